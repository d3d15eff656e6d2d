-- Overlap across sets and parts (`ffdata audit --overlap [SET ...]`). Views made by
-- ffdata.audit.overlap: overlap_rows (set_name, part, instruction, source, source_row) over the
-- chosen sets, overlap_sources (set_name, source, source_id): each dataset source's identity,
-- the file's sha256 or the hub dataset/split@revision, so one file read by two sets under two
-- names is one source. Curated tables and generators are material, not dataset rows: their
-- rows are not compared (a table row is asked in several forms by design).
-- A question is normalized: the MCQ option lines and the closing ask removed, anything after
-- the last "?" removed (a format request: "Answer Yes or No."), case folded, every run of
-- non-letters/digits made one space.

CREATE OR REPLACE TEMP VIEW overlap_items AS
SELECT r.set_name, r.part,
       trim(regexp_replace(lower(regexp_replace(regexp_replace(regexp_replace(
           r.instruction, '\n[A-J]\. [^\n]*', '', 'g'),
           '\nAnswer with the letter of the correct option\.$', ''),
           '\?[^?]*$', '?')), '[^\pL\pN]+', ' ', 'g')) AS question,
       s.source_id, r.source, r.source_row
FROM overlap_rows r
LEFT JOIN overlap_sources s ON s.set_name = r.set_name AND s.source = r.source;

-- The matrix: for each pair of (set, part), normalized questions and dataset rows both hold
-- (the diagonal: the part's own distinct questions and rows)
WITH groups AS (SELECT DISTINCT set_name, part FROM overlap_items),
q AS (SELECT DISTINCT set_name, part, question FROM overlap_items WHERE question <> ''),
r AS (SELECT DISTINCT set_name, part, source_id, source_row FROM overlap_items
      WHERE source_id IS NOT NULL),
qp AS (SELECT a.set_name AS sa, a.part AS pa, b.set_name AS sb, b.part AS pb, count(*) AS n
       FROM q a JOIN q b USING (question) GROUP BY ALL),
rp AS (SELECT a.set_name AS sa, a.part AS pa, b.set_name AS sb, b.part AS pb, count(*) AS n
       FROM r a JOIN r b USING (source_id, source_row) GROUP BY ALL)
SELECT a.set_name AS set_a, a.part AS part_a, b.set_name AS set_b, b.part AS part_b,
       coalesce(qp.n, 0) AS shared_questions, coalesce(rp.n, 0) AS shared_source_rows
FROM groups a CROSS JOIN groups b
LEFT JOIN qp ON qp.sa = a.set_name AND qp.pa = a.part AND qp.sb = b.set_name AND qp.pb = b.part
LEFT JOIN rp ON rp.sa = a.set_name AND rp.pa = a.part AND rp.sb = b.set_name AND rp.pb = b.part
ORDER BY set_a, part_a, set_b, part_b;

-- An example of each overlap between two different parts
WITH q AS (SELECT DISTINCT set_name, part, question FROM overlap_items WHERE question <> '')
SELECT a.set_name AS set_a, a.part AS part_a, b.set_name AS set_b, b.part AS part_b,
       count(*) AS shared_questions, left(min(question), 100) AS example
FROM q a JOIN q b USING (question)
WHERE (a.set_name, a.part) < (b.set_name, b.part)
GROUP BY ALL ORDER BY shared_questions DESC, set_a, part_a, set_b, part_b;

-- An example of each shared dataset row between two different parts
WITH r AS (SELECT DISTINCT set_name, part, source_id, source, source_row FROM overlap_items
           WHERE source_id IS NOT NULL)
SELECT a.set_name AS set_a, a.part AS part_a, b.set_name AS set_b, b.part AS part_b,
       count(*) AS shared_source_rows,
       min(a.source || ':' || a.source_row) AS example
FROM r a JOIN r b USING (source_id, source_row)
WHERE (a.set_name, a.part) < (b.set_name, b.part)
GROUP BY ALL ORDER BY shared_source_rows DESC, set_a, part_a, set_b, part_b;
