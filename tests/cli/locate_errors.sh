#!/usr/bin/env bash
# locate's bad inputs: a gazetteer with a missing column or a bad coordinate, an unknown country,
# an unreadable image among good ones (partial exit 3, the good one still written).
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/Kauai.png
mkdir gz
printf 'iso2,iso3,name,lat\nFR,FRA,France,48.85\n' > gz/countries.csv
printf 'name,iso2,lat,lon\n' > gz/cities.csv
if "$GEOLABEL" locate --model "$M" --gazetteer gz "$IMG" 2> err; then exit 1; fi
grep -q "gz/countries.csv: line 1: missing column 'lon'" err
printf 'iso2,iso3,name,lat,lon\nFR,FRA,France,48.85,2.35\n' > gz/countries.csv
printf 'name,iso2,lat,lon\nParis,FR,48.85,2.35\nLyon,FR,145.7,4.8\n' > gz/cities.csv
if "$GEOLABEL" locate --model "$M" --gazetteer gz "$IMG" 2> err; then exit 1; fi
grep -q "gz/cities.csv: line 3: latitude '145.7' is not a number in \[-90, 90\]" err
if "$GEOLABEL" locate --model "$M" --countries FR,QQ "$IMG" 2> err; then exit 1; fi
grep -q "'QQ' is not a country" err
echo "not an image" > broken.jpg
set +e
"$GEOLABEL" locate --model "$M" --countries FR -o out.csv broken.jpg "$IMG" 2> err
rc=$?
set -e
[ $rc -eq 3 ] || { echo "exit $rc"; exit 1; }
grep -q "broken.jpg" err
$PY -c "
import csv
rows = list(csv.DictReader(open('out.csv')))
assert [r['filename'].split('/')[-1] for r in rows] == ['Kauai.png'] and rows[0]['country'] == 'FR', rows
"
# Templates without their slot, and a --top-k out of range: usage errors (exit 2).
set +e
"$GEOLABEL" locate --model "$M" --country-template "A photo." "$IMG" 2> err; rc1=$?
"$GEOLABEL" locate --model "$M" --city-template "A photo in {country}." "$IMG" 2>> err; rc2=$?
"$GEOLABEL" locate --model "$M" --top-k 0 "$IMG" 2>> err; rc3=$?
set -e
[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] || { echo "exits $rc1 $rc2 $rc3"; exit 1; }
grep -q "the country template must contain {country}" err
grep -q "the city template must contain {city}" err
grep -q "\-\-top-k takes a whole number from 1" err
