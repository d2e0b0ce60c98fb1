// The live stream: new timeline entries as the timeline service stores them
// (/api/v1/stream), newest first.  It reconnects by itself, going on after the last
// entry it had (Last-Event-ID), so it misses nothing.

import { Refusal, pause, readEvents } from "./api.js";
import { $, clear, el, patientLink, refuse, say, when } from "./dom.js";

const KEEP = 200;

export function startStream({ onEntry = () => {} } = {}) {
  const section = $("#stream");
  const status = $("#stream-status");
  const list = clear($("#stream-entries"));
  const message = $("#stream-message");
  const stop = new AbortController();
  let lastEventId = null;

  const show = (text, kind) => {
    status.textContent = text;
    status.className = `pill ${kind || ""}`;
  };

  const entry = (data) => {
    const item = el(
      "li",
      { data: { patientKey: data.patient_key, sequence: data.sequence } },
      el("span", { class: "time", text: when(data.occurred_at || data.recorded_at) }),
      el("span", { class: "type", text: data.event_type }),
      patientLink(data.patient_key),
      el("span", { class: "summary", text: data.summary }),
    );
    list.prepend(item);
    while (list.children.length > KEEP) list.lastElementChild.remove();
    onEntry(data);
  };

  (async () => {
    refuse(section, "");
    while (!stop.signal.aborted) {
      show("connecting…");
      let retry = 2000;
      try {
        const ended = await readEvents("/api/v1/stream", {
          lastEventId,
          signal: stop.signal,
          onOpen: () => {
            show("live", "live");
            say(message, "");
          },
          onEvent: (event) => {
            if (event.event === "entry") {
              lastEventId = event.id;
              entry(JSON.parse(event.data));
            } else if (event.event === "error") {
              say(message, JSON.parse(event.data).message);
            }
          },
        });
        retry = ended.retry ?? retry;
      } catch (error) {
        if (stop.signal.aborted || error.name === "AbortError") break;
        if (error instanceof Refusal && (error.status === 401 || error.status === 403)) {
          show("stopped");
          if (error.status === 403) refuse(section, error.message);
          return;
        }
        say(message, error instanceof Refusal ? error.message : "The stream broke off.");
      }
      if (stop.signal.aborted) break;
      show("reconnecting…", "down");
      await pause(retry, stop.signal);
    }
    show("stopped");
  })();

  return () => stop.abort();
}
