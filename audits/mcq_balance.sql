-- requires: part, block, format, response
-- MCQ answer-letter balance: the gold letter of every mcq_letter record (its response starts
-- with the letter, e.g. "B", "(B)", "B. ..."), per part and block (validation is its own
-- part), against a uniform spread.

-- Letter counts and shares per part and block ("?" = no letter found at the start of the response)
WITH mcq AS (
    SELECT part, block,
           upper(regexp_extract(trim(response), '^\(?([A-Ja-j])(\)|\.|:|\s|$)', 1)) AS letter
    FROM shards WHERE format = 'mcq_letter'
), counted AS (
    SELECT part, block, coalesce(nullif(letter, ''), '?') AS letter, count(*) AS rows
    FROM mcq GROUP BY part, block, letter
)
SELECT part, block, letter, rows,
       round(rows / sum(rows) OVER (PARTITION BY part, block), 4) AS share
FROM counted ORDER BY part, block, letter;

-- Per part and block: the most and least used letter; ok when none is more than 5 points off uniform
WITH mcq AS (
    SELECT part, block,
           upper(regexp_extract(trim(response), '^\(?([A-Ja-j])(\)|\.|:|\s|$)', 1)) AS letter
    FROM shards WHERE format = 'mcq_letter'
), counted AS (
    SELECT part, block, letter, count(*) AS rows FROM mcq WHERE letter <> ''
    GROUP BY part, block, letter
), shares AS (
    SELECT part, block, letter, rows / sum(rows) OVER (PARTITION BY part, block) AS share,
           count(*) OVER (PARTITION BY part, block) AS letters
    FROM counted
)
SELECT part, block, any_value(letters) AS letters_used, round(max(share), 4) AS max_share,
       round(min(share), 4) AS min_share,
       max(abs(share - 1.0 / letters)) <= 0.05 AS ok
FROM shares GROUP BY part, block ORDER BY part, block;
