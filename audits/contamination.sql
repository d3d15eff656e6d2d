-- Contamination against the evaluation sets: rows dropped with reason contaminated:<evalset>
-- (or kept and reported, for manifests with decontamination action "report").

-- This set, per evaluation set
SELECT getvariable('set_name') AS training_set, action,
       sum(n) FILTER (WHERE reason = 'contaminated:mmlu') AS mmlu,
       sum(n) FILTER (WHERE reason = 'contaminated:arc') AS arc,
       sum(n) FILTER (WHERE reason = 'contaminated:gsm8k') AS gsm8k,
       sum(n) FILTER (WHERE reason = 'contaminated:hellaswag') AS hellaswag,
       sum(n) FILTER (WHERE reason = 'contaminated:truthfulqa') AS truthfulqa,
       sum(n) AS total
FROM reasons WHERE reason LIKE 'contaminated:%' GROUP BY action ORDER BY action;

-- The matrix: every built set (latest build) x evaluation set
SELECT s.name AS training_set,
       coalesce(sum(r.n) FILTER (WHERE r.reason = 'contaminated:mmlu'), 0) AS mmlu,
       coalesce(sum(r.n) FILTER (WHERE r.reason = 'contaminated:arc'), 0) AS arc,
       coalesce(sum(r.n) FILTER (WHERE r.reason = 'contaminated:gsm8k'), 0) AS gsm8k,
       coalesce(sum(r.n) FILTER (WHERE r.reason = 'contaminated:hellaswag'), 0) AS hellaswag,
       coalesce(sum(r.n) FILTER (WHERE r.reason = 'contaminated:truthfulqa'), 0) AS truthfulqa,
       any_value(s.input_rows) AS input_rows
FROM sets s LEFT JOIN build_reasons r ON r.set_name = s.name AND r.reason LIKE 'contaminated:%'
WHERE s.latest GROUP BY s.name ORDER BY s.name;

-- Which eval items were matched, most often first (detail = "<item id>: <matched words>")
SELECT split_part(reason, ':', 2) AS evalset, split_part(detail, ': ', 1) AS item_id,
       count(*) AS rows, any_value(split_part(detail, ': ', 2)) AS matched
FROM dropped WHERE reason LIKE 'contaminated:%'
GROUP BY ALL ORDER BY rows DESC, item_id LIMIT 20;
