-- requires: instruction
-- Duplicates: instructions (lower case, spaces collapsed) repeated inside this set, and shared
-- with other built sets (all_records: every SFT-like set's latest build).

-- Repeated instructions inside this set
WITH k AS (SELECT lower(regexp_replace(trim(instruction), '\s+', ' ', 'g')) AS key FROM shards)
SELECT count(*) AS rows, count(DISTINCT key) AS distinct_instructions,
       count(*) - count(DISTINCT key) AS duplicate_rows
FROM k;

-- Instructions shared with other sets
WITH mine AS (
    SELECT DISTINCT lower(regexp_replace(trim(instruction), '\s+', ' ', 'g')) AS key FROM shards
), others AS (
    SELECT set_name, lower(regexp_replace(trim(instruction), '\s+', ' ', 'g')) AS key
    FROM all_records WHERE set_name <> getvariable('set_name')
)
SELECT o.set_name AS other_set, count(DISTINCT o.key) AS shared_instructions,
       any_value(left(o.key, 80)) AS example
FROM others o JOIN mine m USING (key)
GROUP BY o.set_name ORDER BY shared_instructions DESC, other_set;

-- The most repeated instructions of this set
SELECT left(instruction, 80) AS instruction, count(*) AS rows
FROM shards GROUP BY instruction HAVING count(*) > 1 ORDER BY rows DESC, instruction LIMIT 10;
