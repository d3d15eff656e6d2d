-- requires: part, block, instruction, response, text
-- Length and token distributions. Characters over every row; GPT-2 tokens of the rendered text
-- (gpt2_tokens, the bundled tokenizer) over up to 20,000 rows picked by hash of id. Per part
-- and block: validation is its own part.

-- Characters per part and block: instruction and response
SELECT part, block, count(*) AS rows,
       round(avg(length(instruction)), 1) AS instr_avg,
       round(quantile_cont(length(instruction), 0.5), 1) AS instr_p50,
       round(quantile_cont(length(instruction), 0.99), 1) AS instr_p99,
       round(avg(length(response)), 1) AS resp_avg,
       round(quantile_cont(length(response), 0.5), 1) AS resp_p50,
       round(quantile_cont(length(response), 0.9), 1) AS resp_p90,
       round(quantile_cont(length(response), 0.99), 1) AS resp_p99,
       max(length(response)) AS resp_max
FROM shards GROUP BY part, block ORDER BY part, block;

-- GPT-2 tokens of the rendered text per part and block (sample of up to 20,000 rows)
WITH sample AS (SELECT part, block, text FROM shards ORDER BY hash(id), id LIMIT 20000),
     tok AS (SELECT part, block, gpt2_tokens(text) AS tokens FROM sample)
SELECT part, block, count(*) AS sampled_rows, round(avg(tokens), 1) AS tokens_avg,
       round(quantile_cont(tokens, 0.5), 1) AS tokens_p50, round(quantile_cont(tokens, 0.9), 1) AS tokens_p90,
       round(quantile_cont(tokens, 0.99), 1) AS tokens_p99, max(tokens) AS tokens_max,
       count(*) FILTER (WHERE tokens > 1024) AS over_context_1024
FROM tok GROUP BY part, block ORDER BY part, block;

-- Response length histogram (characters, log2 bins)
SELECT CASE WHEN length(response) = 0 THEN 0
            ELSE pow(2, floor(log2(length(response))))::BIGINT END AS chars_from,
       count(*) AS rows
FROM shards GROUP BY 1 ORDER BY 1;
