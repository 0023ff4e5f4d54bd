#!/usr/bin/env bash
# --model takes every form in every command that takes a model: a training checkpoint with
# --arch gives exactly what the HF folder converted from it gives (test_sources holds that folder
# to open_clip's own outputs), in embed, classify, label, cluster, locate, dataset build and
# tokenize (bench: that it runs); without --arch each command says the checkpoint needs one. tokenize of the open_clip
# forms gives open_clip's own input_ids.
set -eu
F=$GEOLABEL_SHARED/fixtures
CK=$F/openclip/openclip-tiny-gelu/epoch_3.pt
AR=$F/openclip/openclip-tiny-gelu/openclip-tiny-gelu.json
IMG=$F/expected/images/00_rocket.jpg
"$GEOLABEL" model convert "$CK" --arch "$AR" -o conv > /dev/null
printf 'forest\nairport\nfarmland\nharbour\n' > classes.txt
printf 'id,path,e1,n1,e2,n2\n1,%s,100,200,150,250\n' "$IMG" > meta.csv

run() { # tag model-args...: every command into files named by tag
  t=$1; shift
  "$GEOLABEL" embed "$@" "$IMG" -o "$t.npy"
  "$GEOLABEL" classify "$@" --classes classes.txt "$IMG" -o "$t.classify.csv"
  "$GEOLABEL" label "$@" --classes classes.txt "$IMG" -o "$t.label.csv" 2> /dev/null
  "$GEOLABEL" cluster "$@" --classes classes.txt --num-clusters 2 -o "$t.yaml" > /dev/null
  "$GEOLABEL" locate "$@" "$IMG" -o "$t.locate.csv"
  "$GEOLABEL" dataset build "$@" --meta meta.csv -o "$t.jsonl" 2> /dev/null
  echo "a satellite image of a forest" | "$GEOLABEL" tokenize "$@" > "$t.ids"
}
run ckpt --model "$CK" --arch "$AR"
run folder --model conv
for ext in npy classify.csv label.csv yaml locate.csv jsonl ids; do cmp "ckpt.$ext" "folder.$ext"; done
# bench times the forward, so only that it runs
"$GEOLABEL" bench --model "$CK" --arch "$AR" --runs 1 > /dev/null

# without --arch, every command refuses the bare checkpoint with the same message
for cmd in "embed $IMG -o x.npy" "classify --classes classes.txt $IMG" \
  "label --classes classes.txt $IMG -o x.csv" "cluster --classes classes.txt --num-clusters 2 -o x.yaml" \
  "locate $IMG" "dataset build --meta meta.csv -o x.jsonl" "tokenize" "bench --runs 1"; do
  rc=0
  # shellcheck disable=SC2086
  echo x | "$GEOLABEL" $cmd --model "$CK" > /dev/null 2> err.txt || rc=$?
  [ "$rc" -ne 0 ] || { echo "$cmd: exit 0"; exit 1; }
  grep -q "epoch_3.pt: a single checkpoint needs --arch" err.txt || { echo "$cmd"; cat err.txt; exit 1; }
done

# tokenize: open_clip's own ids, for the folder form and the checkpoint form
"$PY" - "$F/openclip/openclip-tiny-quickgelu/expected/inputs.json" > texts.jsonl <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["texts"]:
    print(json.dumps(t))
PY
"$GEOLABEL" tokenize --jsonl --model "$F/openclip/openclip-tiny-quickgelu" < texts.jsonl > a.ids
"$GEOLABEL" tokenize --jsonl --model "$CK" --arch "$AR" < texts.jsonl > b.ids
"$PY" - a.ids b.ids "$F/openclip/openclip-tiny-quickgelu/expected/input_ids.npy" <<'PY'
import json, sys, numpy as np
want = np.load(sys.argv[3]).tolist()
for f in sys.argv[1:3]:
    got = [json.loads(l) for l in open(f)]
    assert got == want, f
PY
echo ok
