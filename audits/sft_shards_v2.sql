-- Audit of an sft_shards_v2 build (DuckDB). Set the build folder first, e.g.
--   duckdb -c "SET VARIABLE set_dir = 'artifacts/sft/shards_v2/<fingerprint>'; .read audits/sft_shards_v2.sql"
CREATE OR REPLACE TEMP VIEW shards AS
  SELECT * FROM read_parquet(getvariable('set_dir') || '/part-*.parquet');
CREATE OR REPLACE TEMP VIEW dropped AS
  SELECT * FROM read_parquet(getvariable('set_dir') || '/_dropped.parquet');
CREATE OR REPLACE TEMP VIEW build AS
  SELECT * FROM read_json(getvariable('set_dir') || '/_build.json');

-- 1. composition by source (and part) against the manifest's per-source caps
SELECT s.source, s.block, count(*) AS rows, sum(n_tokens) AS tokens,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_rows,
       json_extract(any_value(b.targets), '$.caps.' || s.source)::BIGINT AS cap
FROM shards s, build b GROUP BY s.source, s.block ORDER BY rows DESC;

-- 2. drops by reason and source
SELECT reason, source, count(*) AS rows FROM dropped GROUP BY ALL ORDER BY rows DESC;

-- 3. reconciliation: every row read is kept or dropped (augmentation rows are extra, not read)
WITH read AS (SELECT unnest(map_entries(to_json(reconciliation.rows_read)::MAP(VARCHAR, BIGINT))) AS e FROM build),
     k AS (SELECT source, count(*) AS kept FROM shards GROUP BY source),
     d AS (SELECT source, count(*) AS dropped FROM dropped GROUP BY source)
SELECT e.key AS source, e.value AS rows_read, coalesce(kept, 0) AS kept,
       coalesce(dropped, 0) AS dropped, e.value = coalesce(kept, 0) + coalesce(dropped, 0) AS reconciles
FROM read LEFT JOIN k ON k.source = e.key LEFT JOIN d ON d.source = e.key ORDER BY 1;

-- 4. token length histogram (bins of 64 tokens), and the loss-masked share
SELECT 64 * (n_tokens // 64) AS tokens_from, count(*) AS rows FROM shards GROUP BY 1 ORDER BY 1;
SELECT block, sum(n_loss_tokens) AS loss_tokens, sum(n_tokens) AS tokens,
       round(sum(n_loss_tokens) / sum(n_tokens), 4) AS loss_share,
       sum(truncated::INT) AS truncated_rows
FROM shards GROUP BY block;

-- 5. PII scrubbed, by kind
SELECT k.key AS kind, sum(k.value::BIGINT) AS replacements
FROM (SELECT unnest(map_entries(json_extract(meta, '$.pii_scrubbed')::MAP(VARCHAR, BIGINT))) AS k
      FROM shards WHERE json_extract(meta, '$.pii_scrubbed') IS NOT NULL) GROUP BY 1;
