#!/usr/bin/env bash
# Demo custom script of ads-actions: mails the events it receives on stdin.
#
#   email-report.sh --address soc@example.org[,noc@example.org] --subject TEXT --body TEXT < events
#
# The options are the action's parameters (examples/actions.yaml passes them as argv pairs).
# Input: one event per line, in any format ads-actions gives scripts: ADS events as 15 (tsv) or
# 17 (tsv-extended) tab-separated fields or as JSON, IDS events as 14 tab-separated fields or
# as JSON. Events are told apart as the vendor documents: by field count, or by JSON keys (IDS
# events have srcIp, dstIp and signatureName). JSON is read with jq; without jq, JSON events
# are mailed as they came.
#
# The mail goes out through `ads-actions send-mail`, with the SMTP settings of the configuration:
#   ADS_ACTIONS         the ads-actions program (default: the one on PATH)
#   ADS_ACTIONS_CONFIG  the configuration file (required)
# A script gets only the variables in its action's `environment` allow-list: list both there.
set -euo pipefail

readonly program=email-report.sh

usage() {
    echo "usage: $program --address ADDRESS[,ADDRESS...] --subject TEXT [--body TEXT] < events" >&2
    exit 2
}

# Empty TSV fields arrive as a single space; shown as "-".
shown() {
    local value=$1
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    printf '%s' "${value:--}"
}

describe_ads() {  # fields of a 15- or 17-field line
    local -a f=("$@")
    local extra="" shift_by=0
    if (( ${#f[@]} == 17 )); then
        extra=" [subtype $(shown "${f[4]}"), MITRE ATT&CK $(shown "${f[5]}")]"
        shift_by=2
    fi
    local -a r=("${f[@]:$((4 + shift_by))}")  # from the type description on
    printf 'ADS event %s, priority %s in perspective %s\n' "$(shown "${f[0]}")" "$(shown "${r[2]}")" \
        "$(shown "${r[1]}")"
    printf '  type:       %s - %s%s\n' "$(shown "${f[3]}")" "$(shown "${r[0]}")" "$extra"
    printf '  detected:   %s (first flow %s)\n' "$(shown "${f[1]}")" "$(shown "${f[2]}")"
    printf '  source:     %s (captured source %s)\n' "$(shown "${r[6]}")" "$(shown "${r[7]}")"
    printf '  targets:    %s\n' "$(shown "${r[8]}")"
    printf '  ports:      %s %s\n' "$(shown "${r[4]}")" "$(shown "${r[5]}")"
    printf '  data feed:  %s, user identity %s\n' "$(shown "${r[9]}")" "$(shown "${r[10]}")"
    printf '  detail:     %s\n' "$(shown "${r[3]}")"
}

describe_ids() {  # fields of a 14-field line
    local -a f=("$@")
    printf 'IDS event %s, severity %s\n' "$(shown "${f[0]}")" "$(shown "${f[13]}")"
    printf '  signature:  %s %s (%s)\n' "$(shown "${f[8]}")" "$(shown "${f[9]}")" "$(shown "${f[12]}")"
    printf '  seen:       %s to %s\n' "$(shown "${f[1]}")" "$(shown "${f[2]}")"
    printf '  traffic:    %s:%s -> %s:%s %s\n' "$(shown "${f[3]}")" "$(shown "${f[4]}")" "$(shown "${f[5]}")" \
        "$(shown "${f[6]}")" "$(shown "${f[7]}")"
    printf '  log source: %s %s\n' "$(shown "${f[10]}")" "$(shown "${f[11]}")"
}

describe_tsv() {
    local -a fields
    # Tabs are IFS whitespace, so empty fields would merge: ads-actions sends them as a space.
    IFS=$'\t' read -r -a fields <<< "$1"
    case ${#fields[@]} in
        15 | 17) describe_ads "${fields[@]}" ;;
        14) describe_ids "${fields[@]}" ;;
        *) printf 'Unrecognised event (%d fields): %s\n' "${#fields[@]}" "$1" ;;
    esac
}

# The same fields as the tab-separated formats, in the same order (ADS: the extended one).
# shellcheck disable=SC2016  # $t is jq's variable, not the shell's
readonly json_to_tsv='
  def field: if . == null or . == "" then " " else tostring end;
  if has("signatureName") or (has("srcIp") and has("dstIp")) then
    [.id, .firstSeen, .lastSeen, .srcIp, .srcPort, .dstIp, .dstPort, .protocol, .signatureId,
     .signatureName, .logSourceIp, .logSourceInterface, .category, .severity]
  else
    [.id, .timestamp, .firstFlow, .type, .subtype,
     ([(.mitreAttack // [])[] | .tactic as $t | (($t.techniques // []) | map($t.code + ":" + .code))
       | if length == 0 then [$t.code] else . end] | add // [] | join(",")),
     .typeDesc, .perspective, .severity, .detail, .port, .protocol, .source, .capturedSource,
     (.targets | if type == "array" then join(", ") else . end),
     .netFlowSource, .userIdentity]
  end | map(field | gsub("[\\t\\n\\r]"; " ")) | join("\t")'

describe_json() {
    local tsv
    if command -v jq > /dev/null && tsv=$(jq -r "$json_to_tsv" <<< "$1" 2> /dev/null); then
        describe_tsv "$tsv"
    elif [[ $1 == *'"signatureName"'* ]]; then
        printf 'IDS event: %s\n' "$1"
    else
        printf 'ADS event: %s\n' "$1"
    fi
}

options=$(getopt --name "$program" --options '' --longoptions address:,subject:,body: -- "$@") || usage
eval set -- "$options"
address="" subject="" body=""
while true; do
    case $1 in
        --address) address=$2; shift 2 ;;
        --subject) subject=$2; shift 2 ;;
        --body) body=$2; shift 2 ;;
        --) shift; break ;;
    esac
done
[[ -n $address && -n $subject && $# -eq 0 ]] || usage

ads_actions=${ADS_ACTIONS:-$(command -v ads-actions || true)}
if [[ -z $ads_actions ]]; then
    echo "$program: ads-actions not found: set ADS_ACTIONS or put it on PATH" >&2
    exit 1
fi
if [[ -z ${ADS_ACTIONS_CONFIG:-} ]]; then
    echo "$program: ADS_ACTIONS_CONFIG is not set (list it in the action's environment allow-list)" >&2
    exit 1
fi

recipients=()
IFS=', ' read -r -a addresses <<< "$address"
for one in "${addresses[@]}"; do
    recipients+=(--to "$one")
done

report="" count=0
while IFS= read -r line || [[ -n $line ]]; do
    [[ -n ${line// /} ]] || continue
    if [[ $line == '{'* ]]; then
        report+=$(describe_json "$line")
    else
        report+=$(describe_tsv "$line")
    fi
    report+=$'\n\n'
    count=$((count + 1))
done

if (( count == 0 )); then
    echo "$program: no events on stdin, no mail sent" >&2
    exit 0
fi
printf 'Events: %s\n\n%s' "$count" "$report" |
    "$ads_actions" send-mail -c "$ADS_ACTIONS_CONFIG" "${recipients[@]}" --subject "$subject" --body "$body"
