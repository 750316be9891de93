#!/usr/bin/env bash
# IWSLT14 German-English, prepared as fairseq's examples/translation/prepare-iwslt14.sh
# does (itself adapted from Ranzato et al. (2016)'s MIXER prepareData.sh), but with a
# joint sentencepiece model instead of Moses tokenization + subword-nmt BPE:
#
#   bash examples/iwslt14/prepare.sh DATA_DIR [RAW_DIR]
#
# Raw data: the de-en.tgz of the IWSLT 2014-01 release, from the URL fairseq's script
# uses (http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz; IWSLT14_URL=URL
# fetches it from elsewhere, e.g. a mirror), downloaded into DATA_DIR/orig/ and reused
# from there by later runs. With RAW_DIR (the extracted de-en folder, a folder holding it or
# de-en.tgz, or the .tgz itself) nothing is downloaded; without network, pass RAW_DIR.
#
# Steps (scripts/mt_data.py iwslt14), matching fairseq's script:
#  - train.tags.de-en.{de,en}: drop the <url>, <talkid>, <keywords> lines; remove the
#    <title>/<description> tags, keeping their text;
#  - length filter as Moses' clean-corpus-n.perl -ratio 1.5 ... 1 175: both sides
#    1..175 tokens, token ratio <= 1.5. Tokens are counted with sacremoses (the Python
#    Moses tokenizer, what fairseq's script runs) when it is installed, otherwise by
#    whitespace; prepare.json and the log say which (LENGTH_TOKENIZER=sacremoses|whitespace
#    forces one; FILTER_RATIO, FILTER_MAX_LEN change the limits). The kept text stays
#    untokenized: sentencepiece is trained on it and BLEU is computed against it.
#  - lowercase everything (LOWERCASE=1, the default, as fairseq/MIXER; LOWERCASE=0 keeps case);
#  - valid = every 23rd line of the cleaned training text, train = the rest;
#  - test = IWSLT14.TED.dev2010 + IWSLT14.TEDX.dev2012 + IWSLT14.TED.tst2010 + tst2011 +
#    tst2012 (<seg> text, ’ -> '), concatenated in that order as fairseq does (6,750
#    sentences; TEDX.dev2012 is part of fairseq's/MIXER's test set);
#  - joint sentencepiece model (SPM_VOCAB pieces, default 10000 like fairseq's 10k joint
#    BPE; SPM_VOCAB=32000 is the paper's "output vocabulary 32000" setting), encode,
#    fairseq-preprocess --joined-dictionary into DATA_DIR/bin.
set -euo pipefail
source "$(dirname "$0")/../mt_common.sh"
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [RAW_DIR]" >&2; exit 2; }
DATA=$1
RAW=${2:-}
SPM_VOCAB=${SPM_VOCAB:-10000}
LOWERCASE=${LOWERCASE:-1}
URL=${IWSLT14_URL:-http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz}
mkdir -p "$DATA"

if [ -n "$RAW" ]; then
  echo "== raw data: using the local release at $RAW (not downloading)"
elif [ -f "$DATA/orig/de-en.tgz" ]; then
  RAW="$DATA/orig/de-en.tgz"
  echo "== raw data: using the earlier download $RAW"
else
  if ! "$PYTHON" "$MT_DATA" download "$URL" "$DATA/orig/de-en.tgz"; then
    echo "could not download $URL (no network?); pass the raw release as RAW_DIR:" >&2
    echo "  bash $0 $DATA /path/to/de-en   (or a folder holding de-en.tgz)" >&2
    exit 1
  fi
  RAW="$DATA/orig/de-en.tgz"
fi

echo "== clean, split -> $DATA/text"
"$PYTHON" "$MT_DATA" iwslt14 "$RAW" "$DATA/text" $(mt_lowercase_flag) \
  --tokenizer "${LENGTH_TOKENIZER:-auto}" \
  --ratio "${FILTER_RATIO:-1.5}" --max-len "${FILTER_MAX_LEN:-175}"
mt_binarize "$DATA" "$SPM_VOCAB"
