// Each sender of each connector (/api/v1/operators/senders, for operators and admins): MSH-3^
// MSH-4 with its messages by ACK code, its dead letters by error code and how long ago its
// last message came.  A sender stands out when every message it sent in the last minutes
// was rejected (red), or when it has sent nothing for long (amber).

import { api } from "./api.js";
import { $, clear, el, refuse, say, when } from "./dom.js";
import { pollEvery } from "./poll.js";

const CODES = ["AA", "AE", "AR", "CA", "CE", "CR"];
const STATES = { rejecting: "Rejecting", silent: "Silent" };

// 75 -> "1 min ago": how long ago, in the largest unit that fits.
export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

export function startSenders() {
  const body = clear($("#senders-table tbody"));
  const source = $("#senders-source");
  refuse($("#senders"), "");
  $("#senders-table").hidden = false;

  const row = (s) => {
    const number = (value, attributes) => el("td", { class: "number", ...attributes, text: value });
    const dead = Object.entries(s.rejected).map(([code, n]) => `${code} ${n}`).join(", ");
    return el(
      "tr",
      { class: `sender-${s.state}`, data: { sender: s.sender, connector: s.connector, state: s.state } },
      el("td", { class: "sender", text: s.sender }),
      el("td", { class: "muted", text: s.connector }),
      number(s.messages, { "data-figure": "messages" }),
      CODES.map((code) => number(s.acks[code] ?? 0, { "data-ack": code })),
      el("td", { "data-figure": "dead-letters", text: dead || "0" }),
      el("td", { "data-figure": "last-message", title: when(s.last_message_at) || null, text: ago(s.seconds_since_last) }),
      el("td", { "data-figure": "state", text: s.why ? `${STATES[s.state]}: ${s.why}` : "" }),
    );
  };

  const step = async (round) => {
    const answer = await api("/api/v1/operators/senders", { signal: round.signal });
    if (answer.interval_s) round.every = Math.max(1000, Math.min(answer.interval_s * 1000, 15000));
    clear(body);
    for (const s of answer.senders) body.append(row(s));
    say(
      source,
      (answer.senders.length ? "" : "No sender has sent a message since the connectors started. ") +
        `Stands out: a sender whose every message of the last ${answer.minutes} min was ` +
        `rejected (an error ACK or a dead letter), or that has sent nothing for over ` +
        `${answer.silent_minutes} min.`,
    );
  };

  return pollEvery(step, { every: 5000, source, refused: refuseSenders });
}

export function refuseSenders(sentence) {
  refuse($("#senders"), sentence);
  clear($("#senders-table tbody"));
  $("#senders-table").hidden = true;
  say($("#senders-source"), "");
}
