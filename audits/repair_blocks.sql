-- requires: part, block, format, response, meta, category
-- repair_blocks audit: counts vs targets, letter balance, Block B answer lengths, anti-anchoring
-- shares, validation disjointness, lineage. Runs after the generic audits (`ffdata audit`).

-- Rows per part and block against the manifest targets (validation and validation_e, the
-- held-out humanities works, are their own parts)
WITH got AS (
    SELECT json_extract_string(meta, '$.part') AS part, block, count(*) AS rows
    FROM shards GROUP BY ALL
), want AS (
    SELECT leaf AS block, target FROM targets WHERE key LIKE 'blocks.%'
)
SELECT g.part, g.block, g.rows,
       CASE WHEN g.part LIKE 'validation%' THEN NULL ELSE w.target::BIGINT END AS target,
       g.part LIKE 'validation%' OR g.rows = w.target AS ok
FROM got g LEFT JOIN want w ON w.block = g.block ORDER BY g.part, g.block;

-- A + B + D + validation = the stage-7 total (16,006 on the default manifest)
WITH got AS (SELECT count(*) AS n FROM shards WHERE block IN ('A', 'B', 'D')),
     want AS (SELECT sum(target)::BIGINT AS n FROM targets
              WHERE key IN ('blocks.A', 'blocks.B', 'blocks.D', 'validation'))
SELECT got.n AS abd_plus_validation, want.n AS target, got.n = want.n AS ok FROM got, want;

-- Per pool: training, validation and validation_e rows against the quotas (pool quotas live in
-- the build record)
WITH got AS (
    SELECT block, json_extract_string(meta, '$.pool') AS pool,
           count(*) FILTER (WHERE json_extract_string(meta, '$.part') NOT LIKE 'validation%')
               AS train,
           count(*) FILTER (WHERE json_extract_string(meta, '$.part') = 'validation') AS validation,
           count(*) FILTER (WHERE json_extract_string(meta, '$.part') = 'validation_e')
               AS validation_e
    FROM shards GROUP BY ALL
)
SELECT g.block, g.pool, g.train, t.target::BIGINT AS train_target, g.validation,
       coalesce(v.target, 0)::BIGINT AS validation_target, g.validation_e,
       coalesce(e.target, 0)::BIGINT AS validation_e_target,
       g.train = t.target AND g.validation = coalesce(v.target, 0)
           AND g.validation_e = coalesce(e.target, 0) AS ok
FROM got g
LEFT JOIN targets t ON t.key = 'pools.' || g.block || '.' || g.pool
LEFT JOIN targets v ON v.key = 'validation_by_pool.' || g.block || '/' || g.pool
LEFT JOIN targets e ON e.key = 'validation_e_by_pool.' || g.block || '/' || g.pool
ORDER BY g.block, g.pool;

-- Block A (training part) by subject (meta.subject): what the block teaches
SELECT coalesce(json_extract_string(meta, '$.subject'), '(none)') AS subject, count(*) AS rows,
       round(count(*) / sum(count(*)) OVER (), 4) AS share
FROM shards WHERE part = 'A' AND block = 'A' GROUP BY 1 ORDER BY rows DESC, subject;

-- Block A: at least 12 subjects, arithmetic at most 40% of the block (issue 13 section 3)
WITH a AS (SELECT json_extract_string(meta, '$.subject') AS subject
           FROM shards WHERE part = 'A' AND block = 'A')
SELECT count(DISTINCT subject) AS subjects,
       round(count(*) FILTER (WHERE subject = 'arithmetic') / count(*), 4) AS arithmetic_share,
       count(*) FILTER (WHERE subject IS NULL) AS without_subject,
       subjects >= 12 AND arithmetic_share <= 0.40 AND without_subject = 0 AS ok
FROM a;

-- Validation by block and category (stratified over A/B/D)
SELECT block, category, count(*) AS rows,
       round(count(*) / sum(count(*)) OVER (), 4) AS share
FROM shards WHERE json_extract_string(meta, '$.part') = 'validation'
GROUP BY ALL ORDER BY block, rows DESC;

-- Answer letters per part and block: each of A-D within 25% ± 1%
WITH mcq AS (
    SELECT json_extract_string(meta, '$.part') AS part, block, response AS letter
    FROM shards WHERE format = 'mcq_letter'
), shares AS (
    SELECT part, block, letter, count(*) AS rows,
           count(*) / sum(count(*)) OVER (PARTITION BY part, block) AS share
    FROM mcq GROUP BY part, block, letter
)
SELECT part, block, letter, rows, round(share, 4) AS share, abs(share - 0.25) <= 0.01 AS ok
FROM shares ORDER BY part, block, letter;

-- Block B answers: every one under 100 characters
SELECT count(*) AS rows, max(length(response)) AS longest,
       round(avg(length(response)), 1) AS mean_chars,
       count(*) FILTER (WHERE length(response) >= 100) AS too_long,
       too_long = 0 AS ok
FROM shards WHERE block = 'B';

-- Block B answer length histogram (bins of 10 characters)
SELECT 10 * (length(response) // 10) AS chars_from, count(*) AS rows
FROM shards WHERE block = 'B' GROUP BY 1 ORDER BY 1;

-- No question is asked twice anywhere in the set (MCQ: same stem and same right answer)
SELECT count(*) AS rows,
       count(DISTINCT lower(instruction) || '|' || coalesce(json_extract_string(meta, '$.correct'), ''))
           AS distinct_questions,
       rows = distinct_questions AS ok
FROM shards;

-- Validation (both held-out parts) never shares a question key with training
SELECT count(*) AS shared_keys, count(*) = 0 AS ok
FROM (SELECT json_extract_string(meta, '$.key') AS k FROM shards
      WHERE json_extract_string(meta, '$.part') LIKE 'validation%') v
JOIN (SELECT json_extract_string(meta, '$.key') AS k FROM shards
      WHERE json_extract_string(meta, '$.part') NOT LIKE 'validation%') t USING (k);

-- Anti-anchoring: each anchor's share of the right answers among credit questions of its
-- category (MCQ + yes/no), next to its share of the credits in the fact tables
WITH credit AS (
    SELECT json_extract_string(meta, '$.table') AS tbl,
           coalesce(json_extract_string(meta, '$.correct'), '') AS correct
    FROM shards
    WHERE json_extract_string(meta, '$.template') IN ('creator', 'creator_contrastive',
                                                       'anchor_yes_no')
), anchors AS (
    SELECT split_part(key, '.', 2) AS category, leaf AS anchor, target AS table_share
    FROM targets WHERE key LIKE 'anchor_table_share.%'
), tbl AS (
    SELECT * FROM (VALUES ('inventors', 'inventions'), ('scientists', 'discoveries'),
                          ('writers', 'literature'), ('composers', 'music'),
                          ('artists', 'art'), ('philosophers', 'philosophy')) v(category, tbl)
)
SELECT a.category, a.anchor, count(c.correct) AS items,
       count(c.correct) FILTER (WHERE c.correct = a.anchor) AS anchor_correct,
       round(anchor_correct / nullif(items, 0), 4) AS answer_share,
       round(a.table_share, 4) AS table_share,
       answer_share <= a.table_share + 0.05 AS ok
FROM anchors a JOIN tbl USING (category) LEFT JOIN credit c ON c.tbl = tbl.tbl
GROUP BY a.category, a.anchor, a.table_share ORDER BY a.category, a.anchor;

-- Contrastive MCQ: how often the anchor is a distractor while the answer is someone else
SELECT json_extract_string(meta, '$.table') AS tbl, count(*) AS contrastive_items,
       count(*) FILTER (WHERE json_array_length(json_extract(meta, '$.anchors')) > 0)
           AS with_anchor_distractor
FROM shards WHERE json_extract_string(meta, '$.template') = 'creator_contrastive'
GROUP BY 1 ORDER BY 1;

-- Yes/no anchor checks: the split of Yes and No answers per category
SELECT json_extract_string(meta, '$.anchor_category') AS category,
       count(*) FILTER (WHERE response LIKE 'Yes%') AS yes,
       count(*) FILTER (WHERE response LIKE 'No%') AS no
FROM shards WHERE format = 'yes_no' GROUP BY 1 ORDER BY 1;

-- Lineage: every item names its table and row, or its generator, family and seed
SELECT count(*) FILTER (WHERE json_extract_string(meta, '$.table') IS NULL
                          AND json_extract_string(meta, '$.generator') IS NULL
                          AND json_extract_string(meta, '$.source') IS NULL) AS without_lineage,
       without_lineage = 0 AS ok
FROM shards;
