-- Composition against the builder's declared targets. Every numeric leaf of _build.json
-- "targets" is matched to an actual count: the key itself ("rows", "by_block.A"), else its last
-- part looked up in by_part, by_block, by_source, by_format, by_block_category in that order.
-- A target of at most 1 is a share of the rows; larger targets are counts.

-- Targets vs actual counts, with the deviation
WITH actual AS (
    SELECT 'rows' AS key, count(*) AS n FROM shards
    UNION ALL SELECT 'total', count(*) FROM shards
    UNION ALL SELECT kind || '.' || key, n FROM counts
), matched AS (
    SELECT t.key, t.target,
           coalesce(a.n,
                    (SELECT n FROM counts c WHERE c.key = t.leaf
                     ORDER BY list_position(['by_part', 'by_block', 'by_source', 'by_format',
                                             'by_block_category'], c.kind) LIMIT 1)) AS actual
    FROM targets t LEFT JOIN actual a ON a.key = t.key
), total AS (SELECT count(*) AS rows FROM shards)
SELECT key, target, actual,
       round(100.0 * actual / nullif(total.rows, 0), 2) AS actual_pct,
       CASE WHEN actual IS NULL THEN NULL
            WHEN target <= 1 THEN round(actual / nullif(total.rows, 0) - target, 4)
            ELSE actual - target END AS deviation,
       CASE WHEN actual IS NULL OR target <= 1 OR target = 0 THEN NULL
            ELSE round(100.0 * (actual - target) / target, 2) END AS deviation_pct
FROM matched, total
ORDER BY key;

-- Actual composition by part, block and source
SELECT kind, key, n, round(100.0 * n / sum(n) OVER (PARTITION BY kind), 2) AS pct
FROM counts WHERE kind IN ('by_part', 'by_block', 'by_source', 'by_format')
ORDER BY kind, n DESC, key;
