-- Reconciliation: every input (a row read, or an item a generator produced) is kept, dropped
-- with a reason, or expanded into generated items; ffdata audit NAME runs this with the views
-- shards, dropped, build, reasons focused on one set. The build computes these counts as it
-- reads and fails when they disagree; here they are checked again against the files.

-- Totals: input = read + generated = kept + dropped + expanded, and the files hold what the
-- record says (rows in shards, rows in the dropped file)
SELECT b.reconciliation.read AS read,
       b.reconciliation.generated AS generated,
       b.reconciliation.input AS input,
       b.reconciliation.kept AS kept,
       b.reconciliation.dropped AS dropped,
       b.reconciliation.expanded AS expanded,
       (SELECT count(*) FROM shards) AS rows_in_shards,
       (SELECT count(*) FROM dropped) AS rows_in_dropped_file,
       b.reconciliation.input = b.reconciliation.read + b.reconciliation.generated
         AND b.reconciliation.input
             = b.reconciliation.kept + b.reconciliation.dropped + b.reconciliation.expanded
         AND b.reconciliation.dropped = (SELECT count(*) FROM dropped)
         AND b.rows = (SELECT count(*) FROM shards) AS ok
FROM build b;

-- Per source: the record's ledger, and its dropped rows against the dropped file
WITH entries AS (  -- read_json makes by_source a STRUCT or a MAP by its keys: go through JSON
  SELECT unnest(map_entries(to_json(b.reconciliation.by_source)::MAP(VARCHAR, JSON))) AS m
  FROM build b
), ledger AS (
  SELECT m.key AS source, (m.value->>'read')::BIGINT AS read,
         (m.value->>'generated')::BIGINT AS generated, (m.value->>'kept')::BIGINT AS kept,
         (m.value->>'dropped')::BIGINT AS dropped, (m.value->>'expanded')::BIGINT AS expanded
  FROM entries
), in_file AS (SELECT source, count(*) AS rows FROM dropped GROUP BY source)
SELECT l.source, l.read, l.generated, l.kept, l.dropped, l.expanded,
       coalesce(f.rows, 0) AS dropped_in_file,
       l.read + l.generated = l.kept + l.dropped + l.expanded
         AND l.dropped = coalesce(f.rows, 0) AS ok
FROM ledger l LEFT JOIN in_file f USING (source)
ORDER BY l.source;

-- Dropped rows by reason and source (from _dropped.parquet)
SELECT reason, source, count(*) AS rows,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_of_dropped
FROM dropped GROUP BY ALL ORDER BY rows DESC, reason, source;

-- The build record's counts by reason agree with the dropped file
SELECT r.reason, r.n AS in_build_record, coalesce(f.rows, 0) AS in_dropped_file,
       r.n = coalesce(f.rows, 0) AS ok
FROM reasons r
LEFT JOIN (SELECT reason, count(*) AS rows FROM dropped GROUP BY reason) f USING (reason)
WHERE r.action = 'dropped'
ORDER BY r.reason;
