#!/usr/bin/env bash
# Every command's --help names every long option its parser takes (read from the option tables in
# src/cli/*.c, shared rows resolved through cli.h's CLI_SHARED_OPTIONS); an unknown option or a bad
# value is one line on stderr and a non-zero exit in tokenize, train, show, truth, model and eval;
# an option several commands share is checked alike, with the same message, in each of them.
set -eu
SRC=$GEOLABEL_ROOT/src/cli
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
[ -d "$SRC" ] || { echo "no $SRC"; exit 1; }

# 1. --help lists the table's options. Which help text serves which table: a file's tables are
# all listed by the help of the command(s) on its line. --help itself is exempt (it is what runs);
# --output may be listed as -o. index takes label's table less label's own options, which it
# refuses (one line each, checked here too).
"$PY" - "$SRC" "$GEOLABEL" <<'PYEOF'
import os, re, subprocess, sys
src, exe = sys.argv[1], sys.argv[2]
def strip_comments(t):
    t = re.sub(r"/\*.*?\*/", "", t, flags=re.S)
    return re.sub(r"//[^\n]*", "", t)
header = strip_comments(open(os.path.join(src, "cli.h")).read()).replace("\\\n", " ")
shared = dict(re.findall(r'X\((\w+),\s*"([\w-]+)"', header))
macros = dict(re.findall(r"#define\s+(CLI_\w+_(?:OPTS|ROWS))\s+([^\n]*)", header))
assert {"CLI_SHARD_OPTS", "CLI_LLM_ROWS", "CLI_LLM_LABEL_ROWS"} <= set(macros), macros
def options(path):
    return options_text(strip_comments(open(path).read()))
def options_text(text):
    for _ in range(4):  # macros inside macros (CLI_LLM_LABEL_ROWS holds CLI_LLM_ROWS)
        text = re.sub(r"\b(CLI_\w+_(?:OPTS|ROWS))\b(?!\s*\()",
                      lambda m: macros.get(m.group(1), m.group(1)), text)
    names = set(re.findall(r'\{\s*"([\w-]+)"\s*,\s*(?:required|no)_argument', text))
    for ident in re.findall(r"\bCLI_OPT\((\w+)\)", text):
        assert ident in shared, f"{path}: CLI_OPT({ident}) is not a shared option"
        names.add(shared[ident])
    return names
helps = {
    "bench.c": [["bench"]], "classify.c": [["classify"]], "cluster.c": [["cluster"]],
    "dataset.c": [["dataset"]], "embed.c": [["embed"]], "eval_geo.c": [["eval", "--geo"]],
    "eval_head.c": [["eval", "--head", "h.pth"]], "eval_labels.c": [["eval"]],
    "label.c": [["label"]], "locate.c": [["locate"]], "merge.c": [["merge"]],
    "model.c": [["model"], ["model", "pull"], ["model", "info"], ["model", "convert"],
                ["model", "random"]],
    "predict.c": [["predict"]], "review.c": [["review"]], "search.c": [["search"]],
    "show.c": [["show"]], "tokenize.c": [["tokenize"]], "train.c": [["train"]],
    "truth.c": [["truth"]],
}
# Files without a table of their own: the dispatcher, the shared parser and the LLM rows (in
# label's and cluster's tables), index (label's table).
no_table = {"main.c", "options.c", "llm_opts.c", "index.c", "eval.c"}
files = sorted(f for f in os.listdir(src) if f.endswith(".c"))
assert set(files) == set(helps) | no_table, set(files) ^ (set(helps) | no_table)
bad, checked = [], 0
for f in files:
    if f in no_table:
        continue
    names = options(os.path.join(src, f))
    assert len(names) >= 2, (f, names)
    for argv in helps[f]:
        r = subprocess.run([exe, *argv, "--help"], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            bad.append(f"{' '.join(argv)} --help: exit {r.returncode}, stderr {r.stderr!r}")
            continue
        for n in sorted(names - {"help"}):
            listed = re.search(r"(?<![\w-])--" + re.escape(n) + r"(?![\w-])", r.stdout)
            if not listed and n == "output":
                listed = re.search(r"(?<![\w-])-o\b", r.stdout)
            checked += 1
            if not listed:
                bad.append(f"geolabel {' '.join(argv)} --help does not list --{n} ({f})")
# index: label's table less the options an index has no use for, each refused in one line.
label_only = {"classes", "save-embeddings", "force", "layer-per-crs", "mode", "context",
              "prompt-style", "template", "templates", "from-index", "colors", "probabilities",
              "raster-res"}
llm = options_text(macros["CLI_LLM_LABEL_ROWS"].replace("CLI_LLM_ROWS", macros["CLI_LLM_ROWS"]))
label_only |= llm
assert len(llm) >= 20, llm
idx_help = subprocess.run([exe, "index", "--help"], capture_output=True, text=True).stdout
for n in sorted(options(os.path.join(src, "label.c")) - label_only - {"help"}):
    checked += 1
    if not re.search(r"(?<![\w-])--" + re.escape(n) + r"(?![\w-])", idx_help):
        bad.append(f"geolabel index --help does not list --{n} (label.c)")
for n in sorted(label_only):
    r = subprocess.run([exe, "index", f"--{n}=x" if n not in ("force", "layer-per-crs",
                        "probabilities", "include-filename", "include-classes",
                        "apply-vision-template", "no-llm-cache") else f"--{n}",
                        "--model", "m", "-o", "i.gpkg", "a.tif"], capture_output=True, text=True)
    if r.returncode != 2 or len(r.stderr.splitlines()) != 1:
        bad.append(f"index --{n}: exit {r.returncode}, stderr {r.stderr!r}")
print("\n".join(bad)); assert not bad
print(f"help lists every option: {checked} (command, option) pairs")
PYEOF

# 2. One line and a non-zero exit: expect RC PATTERN CMD... (RC 2 = usage, 1 = failure).
expect() {
    local want=$1 pat=$2 rc=0; shift 2
    "$GEOLABEL" "$@" > out.txt 2> err.txt < /dev/null || rc=$?
    [ "$rc" -eq "$want" ] || { echo "exit $rc, want $want: geolabel $*"; cat err.txt; exit 1; }
    [ "$(wc -l < err.txt)" -eq 1 ] || { echo "not one line: geolabel $*"; cat err.txt; exit 1; }
    grep -q -- "$pat" err.txt || { echo "no '$pat' for geolabel $*:"; cat err.txt; exit 1; }
    [ ! -s out.txt ] || { echo "stdout not empty: geolabel $*"; cat out.txt; exit 1; }
}
# An unknown option, in every command and subcommand.
for cmd in bench classify cluster "dataset stats" embed eval "eval --geo" "eval --head h.pth" \
    index label locate merge "model pull" "model info" "model convert" "model random" predict \
    review search show tokenize train truth; do
    # shellcheck disable=SC2086
    expect 2 "unknown option '--no-such-option'" $cmd --no-such-option
done
expect 2 "unknown subcommand 'bogus'" model bogus
# Bad values, command by command.
expect 2 "takes no value" tokenize --model "$M" --jsonl=1
expect 2 "needs a value" tokenize --model
expect 1 "no-such-model" tokenize --model no-such-model
expect 2 "--dropout takes a number" train --data d.jsonl -o h.safetensors --dropout 2
expect 2 "--optimizer is adam or adamw, not 'sgd'" train --data d.jsonl -o h.safetensors \
    --optimizer sgd
expect 2 "--schedule is cosine or constant" train --data d.jsonl -o h.safetensors --schedule x
expect 2 "--batch takes a whole number" train --data d.jsonl -o h.safetensors --batch 0
expect 2 "--data and -o are required" train -o h.safetensors
expect 1 "missing.jsonl" train --data missing.jsonl -o h.safetensors
expect 2 "--alpha takes a number in (0, 1], not '2'" show --labels l.csv --image i.tif -o o.png \
    --alpha 2
expect 2 "--max-side takes a whole number" show --labels l.csv --image i.tif -o o.png --max-side 1
expect 2 "--labels, --image and -o are required" show --image i.tif -o o.png
expect 2 "--positive and --negative must be two different names" truth --mask m.tif \
    --positive A --negative A "$D/world.rgb.tif" -o t.csv
expect 2 "no images given" truth --mask m.tif -o t.csv
expect 1 "nowhere.tif" truth --mask nowhere.tif "$D/world.rgb.tif" -o t.csv
expect 2 "--dtype is f32 or int8 (how the weights are stored), not 'bf16'" model convert "$M" \
    --dtype bf16 -o conv
expect 2 "--dtype is f32 or f16 (how the weights are stored), not 'int8'" model random \
    --like vit-b-32 -o rnd --dtype int8
expect 2 "unknown option '--dtype'" model info "$M" --dtype int8
expect 2 "unknown option '--json'" model convert "$M" --json -o conv
expect 2 "--seed takes a whole number" model random --like vit-b-32 -o rnd --seed x
expect 2 "--arch goes with --file" model pull org/name --arch ViT-B-32
expect 2 "--max-labels takes a whole number" eval --pred p.csv --truth t.csv --max-labels 0
expect 2 "--pred and --truth are both required" eval --pred p.csv
expect 2 "--geo needs --pred and --truth" eval --geo --pred p.csv
expect 2 "--head needs --data" eval --head h.pth
[ ! -e conv ] && [ ! -e rnd ] && [ ! -e h.safetensors ] && [ ! -e t.csv ]

# 3. A shared option: the same limits and the same message in every command that takes it.
same() { # same ARGS -- CMD... ; CMD...: each command, ARGS appended, must say the same thing
    local args=() first="" msg
    while [ "$1" != "--" ]; do args+=("$1"); shift; done
    shift
    for cmd in "$@"; do
        # shellcheck disable=SC2086
        "$GEOLABEL" $cmd "${args[@]}" > /dev/null 2> err.txt && { echo "accepted: $cmd"; exit 1; }
        [ "$(wc -l < err.txt)" -eq 1 ] || { echo "not one line: $cmd"; cat err.txt; exit 1; }
        msg=$(sed -e 's/^geolabel [a-z ]*: //' -e "s/ (see 'geolabel [a-z ]* --help')$//" err.txt)
        [ -n "$first" ] || first=$msg
        [ "$msg" = "$first" ] || { echo "'$msg' ($cmd) is not '$first'"; exit 1; }
    done
    echo "same: ${args[*]}: $first"
}
same --threads 0 -- "train --data d.jsonl -o h.safetensors" "eval --head h.pth --data d.jsonl" \
    "embed --model $M -o e.npy" "classify --model $M --classes c.txt" "predict --head h.pth" \
    "dataset stats --data d.jsonl" "label --model $M --classes c.txt -o l.csv" \
    "index --model $M -o i.gpkg" "bench --model $M" "locate --model $M" \
    "cluster --model $M --classes c.txt -o m.yaml"
same --tile 8 -- "truth --mask m.tif -o t.csv" "label --model $M --classes c.txt -o l.csv" \
    "index --model $M -o i.gpkg"
same --tile 64 --overlap 64 -- "truth --mask m.tif -o t.csv i.tif" \
    "label --model $M --classes c.txt -o l.csv i.tif"
same --remainder x -- "truth --mask m.tif -o t.csv" "label --model $M --classes c.txt -o l.csv"
same --split-height-by 0 -- "truth --mask m.tif -o t.csv" \
    "label --model $M --classes c.txt -o l.csv"
same --split 0x3 -- "truth --mask m.tif -o t.csv" "label --model $M --classes c.txt -o l.csv"
same --stretch foo -- "show --labels l.csv --image i.tif -o o.png" \
    "label --model $M --classes c.txt -o l.csv" "review l.csv --image-root . -o r.html"
same --bands 0 -- "show --labels l.csv --image i.tif -o o.png" \
    "label --model $M --classes c.txt -o l.csv"
same --clip-dim 0 -- "train --data d.jsonl -o h.safetensors" "dataset stats --data d.jsonl"
# 4. Folded options keep working: truth with label's GVL spellings cuts label's tiles.
"$GEOLABEL" truth --mask "$D/world.rgb.tif" --split_height_by 2 --split-width-by 3 \
    --remainder drop "$D/world.rgb.tif" --output gvl.csv > /dev/null
"$PY" -c 'import csv,sys; r=list(csv.DictReader(open("gvl.csv"))); assert len(r)==6, len(r); print("truth 2x3:", len(r), "rows")'
echo ok
