-- requires: block, format, response
-- MCQ answer-letter balance: the gold letter of every mcq_letter record (its response starts
-- with the letter, e.g. "B", "(B)", "B. ..."), per block, against a uniform spread.

-- Letter counts and shares per block ("?" = no letter found at the start of the response)
WITH mcq AS (
    SELECT block,
           upper(regexp_extract(trim(response), '^\(?([A-Ja-j])(\)|\.|:|\s|$)', 1)) AS letter
    FROM shards WHERE format = 'mcq_letter'
), counted AS (
    SELECT block, coalesce(nullif(letter, ''), '?') AS letter, count(*) AS rows
    FROM mcq GROUP BY block, letter
)
SELECT block, letter, rows,
       round(rows / sum(rows) OVER (PARTITION BY block), 4) AS share
FROM counted ORDER BY block, letter;

-- Per block: the most and least used letter; ok when none is more than 5 points off uniform
WITH mcq AS (
    SELECT block,
           upper(regexp_extract(trim(response), '^\(?([A-Ja-j])(\)|\.|:|\s|$)', 1)) AS letter
    FROM shards WHERE format = 'mcq_letter'
), counted AS (
    SELECT block, letter, count(*) AS rows FROM mcq WHERE letter <> '' GROUP BY block, letter
), shares AS (
    SELECT block, letter, rows / sum(rows) OVER (PARTITION BY block) AS share,
           count(*) OVER (PARTITION BY block) AS letters
    FROM counted
)
SELECT block, any_value(letters) AS letters_used, round(max(share), 4) AS max_share,
       round(min(share), 4) AS min_share,
       max(abs(share - 1.0 / letters)) <= 0.05 AS ok
FROM shares GROUP BY block ORDER BY block;
