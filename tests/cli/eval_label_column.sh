#!/usr/bin/env bash
# eval accepts a truth file whose label column is named `label` (not only `classification`);
# accuracy computed here by Python's csv over the same files.
set -eu
printf 'filename,row,col,classification\na.tif,0,0,sea\na.tif,0,1,city\na.tif,1,0,sea\n' > p.csv
printf 'filename,row,col,label\na.tif,0,0,sea\na.tif,0,1,sea\na.tif,1,0,sea\n' > t.csv
"$GEOLABEL" eval --pred p.csv --truth t.csv > out.txt
want=$($PY -c "
import csv
p = {(r['filename'], r['row'], r['col']): r['classification'] for r in csv.DictReader(open('p.csv'))}
t = {(r['filename'], r['row'], r['col']): r['label'] for r in csv.DictReader(open('t.csv'))}
print('%.4f' % (sum(p[k] == t[k] for k in t) / len(t)))")
grep -q "accuracy  $want" out.txt || { cat out.txt; echo "want $want"; exit 1; }
