-- Reconciliation: every input row is kept or dropped with a reason (ffdata audit NAME runs this
-- with the views shards, dropped, build, reasons focused on one set).

-- Totals: the build record's input = kept + dropped, checked against the files themselves
SELECT b.reconciliation.input AS input,
       b.reconciliation.kept AS kept,
       b.reconciliation.dropped AS dropped,
       (SELECT count(*) FROM shards) AS rows_in_shards,
       (SELECT count(*) FROM dropped) AS rows_in_dropped_file,
       b.reconciliation.input = b.reconciliation.kept + b.reconciliation.dropped
         AND b.reconciliation.dropped = (SELECT count(*) FROM dropped)
         AND b.rows = (SELECT count(*) FROM shards) AS ok
FROM build b;

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
