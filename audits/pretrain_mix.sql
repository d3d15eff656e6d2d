-- requires: doc_id, source, module, shard, offset, length, copy
-- replaces: composition
-- Audit of a pretrain_mix build (`just audit pretrain_mix`). The shards view is the per-document
-- sidecars (docs/pretrain_format.md): one row per document occurrence, tokens = length + 1 (EOT).
-- Its targets are token shares, so it replaces the generic row-count composition audit.
-- Standalone: SET VARIABLE set_dir = 'artifacts/pretrain/<fp>'; then create the three views:
--   shards  = read_parquet(set_dir || '/part-mix-*.parquet')
--   dropped = read_parquet(set_dir || '/_dropped.parquet'); build = read_json(set_dir || '/_build.json')

-- Tokens and documents per source vs its target (targets.sources in the build record)
WITH t AS (SELECT unnest(map_entries(to_json(targets.sources)::MAP(VARCHAR, JSON))) AS e,
                  targets.tolerance AS tol FROM build),
     s AS (SELECT source, any_value(module) AS module, sum(length + 1) AS tokens,
                  count(*) AS docs, count(DISTINCT doc_id) AS distinct_docs
           FROM shards GROUP BY source)
SELECT e.key AS source, s.module, e.value->>'group' AS "group", e.value->>'quality' AS quality,
       s.docs, s.distinct_docs, s.tokens, (e.value->>'target_tokens')::BIGINT AS target_tokens,
       round(100.0 * (s.tokens - (e.value->>'target_tokens')::BIGINT)
             / (e.value->>'target_tokens')::BIGINT, 3) AS deviation_pct,
       round(100.0 * s.tokens / sum(s.tokens) OVER (), 2) AS pct_of_tokens,
       abs(s.tokens - (e.value->>'target_tokens')::BIGINT) <= tol * (e.value->>'target_tokens')::BIGINT AS ok
FROM t JOIN s ON s.source = e.key ORDER BY s.tokens DESC;

-- Token share per group (FineWeb slices, C4, Wikipedia, clean web, news) vs the manifest share
WITH t AS (SELECT unnest(map_entries(to_json(targets.sources)::MAP(VARCHAR, JSON))) AS e FROM build),
     g AS (SELECT e.key AS source, e.value->>'group' AS grp FROM t),
     shares AS (SELECT unnest(map_entries(to_json(targets.shares)::MAP(VARCHAR, DOUBLE))) AS e FROM build)
SELECT g.grp AS "group", sum(length + 1) AS tokens,
       round(100.0 * sum(length + 1) / sum(sum(length + 1)) OVER (), 2) AS pct_of_tokens,
       round(100.0 * any_value(shares.e.value), 2) AS target_pct
FROM shards JOIN g USING (source) JOIN shares ON shares.e.key = g.grp
GROUP BY g.grp ORDER BY tokens DESC;

-- Tokens and documents per module (M1 BASE, M1 Extra25, M1 C4, M2 BASE, M2 Extra, ...)
SELECT module, count(*) AS docs, sum(length + 1) AS tokens,
       round(100.0 * sum(length + 1) / sum(sum(length + 1)) OVER (), 2) AS pct_of_tokens
FROM shards GROUP BY module ORDER BY tokens DESC;

-- Dropped documents by kind and reason (filter name, duplicate, contaminated, malformed, downsampled)
SELECT split_part(reason, ':', 1) AS kind, reason, count(*) AS docs,
       count(DISTINCT source) AS sources,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_of_dropped
FROM dropped GROUP BY ALL ORDER BY docs DESC, reason;

-- Dropped documents by source and reason
SELECT source, reason, count(*) AS docs FROM dropped GROUP BY ALL ORDER BY source, docs DESC;

-- Repeat factors: how often documents occur (copy 0 = first occurrence); >1 means upsampled
SELECT source, count(DISTINCT doc_id) AS distinct_docs, count(*) AS occurrences,
       max(copy) + 1 AS max_occurrences,
       round(count(*) / count(DISTINCT doc_id), 3) AS mean_occurrences,
       round(sum(length + 1) / sum(length + 1) FILTER (WHERE copy = 0), 3) AS token_repeat_factor
FROM shards GROUP BY source ORDER BY token_repeat_factor DESC;

-- Document length histogram in GPT-2 tokens (power-of-two bins)
SELECT CAST(pow(2, floor(log2(greatest(length, 1)))) AS BIGINT) AS tokens_from,
       count(*) AS docs, sum(length + 1) AS tokens
FROM shards GROUP BY 1 ORDER BY 1;

-- Shards: documents and tokens per token shard (the trainer memory-maps part-mix-*.bin)
SELECT shard, count(*) AS docs, sum(length + 1) AS tokens, min("offset") = 0 AS starts_at_zero
FROM shards GROUP BY shard ORDER BY shard;
