"""Figure: bench/results/llm_build.json, what the llama.cpp build buys (prompt reading, token writing).

What the llama.cpp build buys: prompt reading and token writing, build against build.

llama-cpp-python compiles llama.cpp from source at setup. A portable build uses
AVX2 only; a build for the CPU it runs on (`-march=native`) also uses AVX-512
and VNNI where the CPU has them (scripts/setup.sh explains which one we ship and
why AMX is left out). This bench loads the embedded model with each build, one
after the other in separate processes (the build is the `llama_cpp` package on
each process's path), on the kiosk's real prompt, with the product's thread and
batch settings, and measures:

- `system_read_ms_per_token`: reading the persona + knowledge prompt (~650 tokens)
  in batches, as at start-up;
- `turn_read_ms`: reading one visitor turn (a fact note and a question) behind
  the cached system prompt: what every LLM turn pays before its first token;
- `decode_ms_per_token`: writing the answer, one token at a time: what the
  first 3-5 word phrase costs after that.

Each build answers the same greedy completion; `same_answer` says whether the
builds agree word for word (they can differ in the last float bits).

    .venv/bin/python bench/voice/llm_build.py --build portable=/path/to/site --build native=
    # an empty path means this venv's own llama_cpp

Prints one JSON object (last line); writes bench/results/llm_build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchkit.paths import RESULTS

TURNS = [
    ("Opening hours", "What time do you open on Sunday?"),
    ("Returns", "How long do I have to return a jacket?"),
    ("Toilets", "Where are the toilets?"),
]


def measure_here(model: str, threads: int, batch: int, repeats: int,
                 gguf: str = "") -> dict[str, Any]:
    """Run in the child: load the model with whatever llama_cpp is importable here."""
    import llama_cpp
    from llama_cpp import Llama

    from agent.bundled_models import embedded_gguf
    from agent.persona import build_system_prompt
    from pipelines.settings import Settings

    settings = Settings()
    system = build_system_prompt(settings.persona)
    llm = Llama(model_path=gguf or str(embedded_gguf(model)), n_ctx=settings.llm.context_tokens,
                n_threads=threads, n_threads_batch=threads, n_batch=batch, n_ubatch=batch,
                verbose=False)
    head = f"<|im_start|>system\n{system}<|im_end|>\n"
    head_tokens = llm.tokenize(head.encode(), special=True)
    started = time.perf_counter()
    llm.eval(head_tokens)
    system_read = (time.perf_counter() - started) / len(head_tokens)
    state = llm.save_state()

    turn_reads: list[float] = []
    decodes: list[float] = []
    answers: list[str] = []
    for _ in range(repeats):
        for topic, question in TURNS:
            llm.load_state(state)
            turn = (f"<|im_start|>user\nStore fact: about {topic}.\n{question}<|im_end|>\n"
                    "<|im_start|>assistant\n")
            tokens = head_tokens + llm.tokenize(turn.encode(), add_bos=False, special=True)
            stamps: list[float] = []
            started = time.perf_counter()
            for index, _token in enumerate(llm.generate(tokens, temp=0.0)):
                stamps.append(time.perf_counter())
                if index >= 16:
                    break
            turn_reads.append(stamps[0] - started)
            decodes.extend(b - a for a, b in zip(stamps, stamps[1:], strict=False))
            answers.append(llm.detokenize(list(llm._input_ids[len(tokens):])).decode(
                "utf-8", "replace"))
    return {
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "llama_cpp_path": str(Path(llama_cpp.__file__).parent),
        "system_tokens": len(head_tokens),
        "system_read_ms_per_token": round(1000 * system_read, 2),
        "turn_read_ms": round(1000 * statistics.median(turn_reads), 1),
        "decode_ms_per_token": round(1000 * statistics.median(decodes), 1),
        "answers": answers[: len(TURNS)],
    }


def measure_build(site: str, args: argparse.Namespace) -> dict[str, Any]:
    """One build in a fresh process: `site` goes first on its path ('' = the venv's)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if site:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH", "")]))
    command = [sys.executable, __file__, "--child", "--model", args.model,
               "--threads", str(args.threads), "--batch", str(args.batch),
               "--repeats", str(args.repeats), "--gguf", args.gguf]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "stderr_tail": done.stderr[-1500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse the arguments; measure each build in turn, or be the child that measures one."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="append", default=[],
                        help="NAME=SITE_DIR (empty dir: this venv's llama_cpp); repeatable")
    parser.add_argument("--model", default="qwen2.5-0.5b")
    parser.add_argument("--gguf", default="", help="a GGUF file instead of the model's own")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate the builds this many times (A B A B ...)")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_build.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_here(args.model, args.threads, args.batch, args.repeats,
                                      args.gguf)))
        return

    builds = dict(item.split("=", 1) for item in (args.build or ["venv="]))
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
    for round_index in range(args.rounds):
        for name, site in builds.items():
            result = measure_build(site, args)
            runs[name].append(result)
            print(f"round {round_index + 1} {name}: "
                  f"{ {k: v for k, v in result.items() if k != 'answers'} }", file=sys.stderr)
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        good = [r for r in results if "error" not in r]
        if not good:
            summary[name] = results[0]
            continue
        summary[name] = {
            key: round(statistics.median(r[key] for r in good), 2)
            for key in ("system_read_ms_per_token", "turn_read_ms", "decode_ms_per_token")
        } | {"system_info": good[0]["system_info"], "answers": good[0]["answers"],
             "errors": len(results) - len(good)}
    names = list(builds)
    if len(names) >= 2 and all("answers" in summary[n] for n in names[:2]):
        first, second = summary[names[0]], summary[names[1]]
        summary[f"{names[1]}_over_{names[0]}"] = {
            key: round(second[key] / first[key], 3)
            for key in ("system_read_ms_per_token", "turn_read_ms", "decode_ms_per_token")
        }
        summary["same_answer"] = first["answers"] == second["answers"]
    report = {
        "bench": "llm_build",
        "model": args.model,
        "gguf": args.gguf or "the model's own",
        "threads": args.threads,
        "batch": args.batch,
        "rounds": args.rounds,
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu": next((line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "unknown"),
        "builds": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
