// Dead letters (/api/v1/operators/dead-letters): why each message was refused, its raw
// message on demand, and a Replay button that runs it through the current mapping.

import { Refusal, api } from "./api.js";
import { $, clear, el, refuse, say, when } from "./dom.js";

const EVERY_MS = 10000;

export function startDeadLetters() {
  const section = $("#dead-letters");
  const table = $("#dead-letters-table");
  const body = clear($("#dead-letters-table tbody"));
  const empty = $("#dead-letters-empty");
  const message = $("#dead-letters-message");
  const stop = new AbortController();
  const outcomes = new Map(); // id -> what its replay answered, kept across refreshes
  const open = new Map(); // id -> the letter shown with its raw message
  let timer = null;
  refuse(section, "");
  table.hidden = false;

  const outcomeText = (outcome) =>
    outcome.status === "failed"
      ? `failed: ${outcome.error}`
      : `${outcome.status}: ${outcome.event_ids.length} event${outcome.event_ids.length === 1 ? "" : "s"}`;

  const show = async (letter, button) => {
    if (open.has(letter.id)) {
      open.delete(letter.id);
      render();
      return;
    }
    button.disabled = true;
    try {
      open.set(letter.id, await api(`/api/v1/operators/dead-letters/${encodeURIComponent(letter.id)}`, { signal: stop.signal }));
      render();
    } catch (error) {
      if (error.name !== "AbortError") say(message, error.message);
      button.disabled = false;
    }
  };

  const replay = async (letter, button) => {
    button.disabled = true;
    say(message, "");
    try {
      const outcome = await api(`/api/v1/operators/dead-letters/${encodeURIComponent(letter.id)}/replay`, {
        method: "POST",
        signal: stop.signal,
      });
      outcomes.set(letter.id, outcome);
      render();
    } catch (error) {
      if (error.name === "AbortError") return;
      button.disabled = false;
      say(message, error.message);
    }
  };

  let letters = [];

  const render = () => {
    clear(body);
    for (const letter of letters) {
      const outcome = outcomes.get(letter.id);
      const sender = [letter.sending_application, letter.sending_facility].filter(Boolean).join(" / ");
      const kind = [letter.message_type, letter.message_control_id].filter(Boolean).join(" ");
      const shown = open.get(letter.id);
      body.append(
        el(
          "tr",
          { data: { deadLetterId: letter.id } },
          el("td", { text: when(letter.timestamp) }),
          el("td", {}, el("strong", { text: letter.error_code }), letter.where ? ` at ${letter.where}` : ""),
          el("td", { text: letter.error_message }),
          el("td", { text: sender }),
          el("td", { text: kind }),
          el("td", { class: "number", text: letter.copies }),
          el(
            "td",
            { class: "actions" },
            el("button", {
              type: "button",
              class: "secondary",
              text: shown ? "Hide" : "Show",
              onclick: (event) => show(letter, event.currentTarget),
            }),
            el("button", {
              type: "button",
              text: "Replay",
              disabled: Boolean(letter.replayable) || outcome?.status === "replayed",
              title: letter.replayable || null,
              onclick: (event) => replay(letter, event.currentTarget),
            }),
          ),
          el("td", { class: `outcome ${outcome ? `outcome-${outcome.status}` : ""}`, text: outcome ? outcomeText(outcome) : "" }),
        ),
      );
      if (shown) {
        body.append(
          el(
            "tr",
            { class: "detail", data: { detailOf: letter.id } },
            el(
              "td",
              { colspan: 8 },
              el("div", { class: "muted", text: `${shown.place} · received ${when(shown.received_at)} by ${shown.connector} · mapping ${shown.mapping_version}` }),
              shown.error_detail ? el("div", { text: shown.error_detail }) : null,
              el("pre", { class: "raw", text: shown.raw.replace(/\r\n?/g, "\n") }),
            ),
          ),
        );
      }
    }
    empty.hidden = letters.length > 0;
  };

  const poll = async () => {
    try {
      const answer = await api("/api/v1/operators/dead-letters?days=7&limit=100", { signal: stop.signal });
      letters = answer.dead_letters;
      say(message, "");
      render();
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error instanceof Refusal && (error.status === 401 || error.status === 403)) {
        if (error.status === 403) refuseDeadLetters(error.message);
        return;
      }
      say(message, error.message);
    }
    if (!stop.signal.aborted) timer = setTimeout(poll, EVERY_MS);
  };

  poll();
  return () => {
    clearTimeout(timer);
    stop.abort();
  };
}

export function refuseDeadLetters(sentence) {
  refuse($("#dead-letters"), sentence);
  clear($("#dead-letters-table tbody"));
  $("#dead-letters-table").hidden = true;
  $("#dead-letters-empty").hidden = true;
}
