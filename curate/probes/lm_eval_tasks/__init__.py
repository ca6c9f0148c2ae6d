"""Task definitions in lm-evaluation-harness's YAML format for the benchmarks the papers ran
through their own lm-eval fork (not in lm-eval 0.4.13): OlympiadBench (`olympiad`), HaluEval
(P1's and P3's variants) and P3's 0-shot MMLU-Pro template. They are loaded by
`curate.probes.harness` with lm-eval's own loader, filters and metrics."""
