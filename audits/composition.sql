-- Composition against the builder's declared targets (the numeric leaves of _build.json
-- "targets"). A target is compared only with the figure its key names:
--   rows, total                             all rows
--   by_part.P, parts.P, quotas.P            rows of part P (surgical's quotas are per part)
--   validation                              rows of the validation part
--   blocks.B, by_block.B                    rows of block B outside the validation part(s)
--   pools.B.P                               rows of block B, pool P (meta.pool) outside validation
--   (a part named validation_* is held out too: repair_blocks' validation_e)
--   validation_by_pool.B/P                  validation rows of block B, pool P
--   by_source.S, by_format.F, by_block_category.K   the build record's counts
--   declared.<key>                          the manifest's own figure for <key>, as <key>
-- A figure that names no rows is 0. Keys naming one figure with one value are shown once
-- (same_as lists the others). A target strictly between 0 and 1 is a share of all rows (1 is
-- a count of one row). Any other numeric leaf (a rule such as short_fact_max_chars, an anchor's
-- table share, a plan figure) is listed in the second table, not compared here; a set's own
-- audit may compare it.
-- `composition` is (part, block, pool, n) over the shards (ffdata.audit focus).

-- Targets vs actual: each target against the figure its key names
WITH figures AS (
    SELECT 'rows' AS key, sum(n) AS actual FROM composition
    UNION ALL SELECT 'total', sum(n) FROM composition
    UNION ALL SELECT 'validation', sum(n) FROM composition WHERE part = 'validation'
    UNION ALL SELECT unnest(['by_part.', 'parts.', 'quotas.']) || part, sum(n)
              FROM composition GROUP BY part
    UNION ALL SELECT unnest(['blocks.', 'by_block.']) || block, sum(n)
              FROM composition WHERE part NOT LIKE 'validation%' OR part IS NULL GROUP BY block
    UNION ALL SELECT 'pools.' || block || '.' || pool, sum(n)
              FROM composition WHERE part NOT LIKE 'validation%' OR part IS NULL GROUP BY block, pool
    UNION ALL SELECT 'validation_by_pool.' || block || '/' || pool, sum(n)
              FROM composition WHERE part = 'validation' GROUP BY block, pool
    UNION ALL SELECT kind || '.' || key, n FROM counts
              WHERE kind IN ('by_source', 'by_format', 'by_block_category')
), named AS (
    SELECT key, target,
           CASE WHEN key LIKE 'declared.%' THEN substr(key, 10) ELSE key END AS figure
    FROM targets
), measured AS (
    SELECT n.key, n.figure, n.target, coalesce(f.actual, 0) AS actual
    FROM named n LEFT JOIN figures f ON f.key = n.figure
    WHERE regexp_matches(n.figure, '^(rows|total|validation)$')
       OR regexp_matches(n.figure, '^(by_part|parts|quotas|blocks|by_block|pools|'
                                   'validation_by_pool|by_source|by_format|by_block_category)\.')
), deduped AS (
    SELECT figure, target, any_value(actual) AS actual,
           min(key ORDER BY key LIKE 'declared.%', key) AS key,
           string_agg(key, ', ' ORDER BY key) FILTER (WHERE key <> figure) AS same_as
    FROM measured GROUP BY figure, target
), total AS (SELECT sum(n) AS rows FROM composition)
SELECT key, target, actual,
       round(100.0 * actual / nullif(total.rows, 0), 2) AS actual_pct,
       CASE WHEN target > 0 AND target < 1
            THEN round(actual / nullif(total.rows, 0) - target, 4)
            ELSE actual - target END AS deviation,
       CASE WHEN target < 1 THEN NULL
            ELSE round(100.0 * (actual - target) / target, 2) END AS deviation_pct,
       same_as
FROM deduped, total
ORDER BY key;

-- Declared numbers this audit does not compare (no figure of that name; see the header)
SELECT key, target AS value
FROM targets
WHERE NOT (regexp_matches(regexp_replace(key, '^declared\.', ''), '^(rows|total|validation)$')
           OR regexp_matches(regexp_replace(key, '^declared\.', ''),
                             '^(by_part|parts|quotas|blocks|by_block|pools|validation_by_pool|'
                             'by_source|by_format|by_block_category)\.'))
ORDER BY key;

-- Rows by part and block (validation is its own part)
SELECT part, block, sum(n) AS rows, round(100.0 * sum(n) / sum(sum(n)) OVER (), 2) AS pct
FROM composition GROUP BY part, block ORDER BY part, block;

-- Rows by source and format (the build record's counts, all parts together)
SELECT kind, key, n, round(100.0 * n / sum(n) OVER (PARTITION BY kind), 2) AS pct
FROM counts WHERE kind IN ('by_source', 'by_format')
ORDER BY kind, n DESC, key;
