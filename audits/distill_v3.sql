-- replaces: composition
-- Audit of a distill_v3 build (DuckDB). Set the build folder first, e.g.
--   duckdb -c "SET VARIABLE set_dir = 'artifacts/distill_v3/<fingerprint>'; .read audits/distill_v3.sql"
-- It replaces the generic composition table: its targets hold plan figures such as the available
-- rows per share; table 1 below compares the quotas.
CREATE OR REPLACE TEMP VIEW shards AS
  SELECT * FROM read_parquet(getvariable('set_dir') || '/part-*.parquet');
CREATE OR REPLACE TEMP VIEW dropped AS
  SELECT * FROM read_parquet(getvariable('set_dir') || '/_dropped.parquet');
CREATE OR REPLACE TEMP VIEW build AS
  SELECT * FROM read_json(getvariable('set_dir') || '/_build.json');

-- 1. exact per-share counts: share, normalized target %, quota, final count after fallbacks, kept
WITH q AS (SELECT unnest(map_entries(to_json(targets.quotas)::MAP(VARCHAR, BIGINT))) AS e,
                  to_json(targets.final_counts) AS fin, to_json(targets.shares) AS sh,
                  targets.shares_sum AS ssum FROM build),
     k AS (SELECT block, count(*) AS kept FROM shards GROUP BY block)
SELECT e.key AS share,
       round(100 * json_extract(sh, '$.' || e.key)::DOUBLE / ssum, 3) AS target_pct,
       e.value AS quota,
       json_extract(fin, '$.' || e.key)::BIGINT AS final_count,
       coalesce(k.kept, 0) AS kept,
       coalesce(k.kept, 0) = json_extract(fin, '$.' || e.key)::BIGINT AS exact
FROM q LEFT JOIN k ON k.block = e.key ORDER BY quota DESC;

-- 2. fallbacks applied, with the manifest's reason
SELECT f.from AS share, f.to AS moved_to, f.count, f.reason
FROM (SELECT unnest(targets.fallbacks_applied) AS f FROM build);

-- 3. composition by source, and drops by reason and source
SELECT block AS share, source, count(*) AS rows FROM shards GROUP BY ALL ORDER BY share, rows DESC;
SELECT reason, source, count(*) AS rows FROM dropped GROUP BY ALL ORDER BY rows DESC;

-- 4. reconciliation
SELECT reconciliation.input, reconciliation.kept, reconciliation.dropped, reconciliation.ok,
       reconciliation.kept = (SELECT count(*) FROM shards) AS kept_matches_shards
FROM build;

-- 5. answer length by share (GPT-2 tokens are in the build record; here characters), teacher
SELECT block AS share, round(avg(length(response)), 1) AS avg_answer_chars,
       max(length(response)) AS max_answer_chars,
       any_value(json_extract_string(meta, '$.teacher')) AS teacher
FROM shards GROUP BY 1 ORDER BY 1;
