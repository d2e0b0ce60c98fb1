// Open alerts (/api/v1/alerts), each with Acknowledge and Resolve for the roles that may.
// A change is shown as the API answered it at once; the list, read again every few
// seconds, shows it once the timeline service has stored it.

import { Refusal, api } from "./api.js";
import { $, clear, el, patientLink, refuse, say, when } from "./dom.js";

const EVERY_MS = 5000;
const RANK = { RAISED: 0, ACKNOWLEDGED: 1, RESOLVED: 2 };

export function startAlerts({ mayChange }) {
  const section = $("#alerts");
  const body = clear($("#alerts-table tbody"));
  const empty = $("#alerts-empty");
  const message = $("#alerts-message");
  const changed = new Map(); // alert_id -> the alert as a change answered it
  const stop = new AbortController();
  let listed = [];
  let timer = null;

  const latest = (alert) => {
    const mine = changed.get(alert.alert_id);
    if (!mine) return alert;
    if (RANK[alert.status] >= RANK[mine.status]) {
      changed.delete(alert.alert_id); // the store has caught up
      return alert;
    }
    return mine;
  };

  const render = () => {
    const open = listed.map(latest).filter((alert) => alert.status !== "RESOLVED");
    clear(body);
    for (const alert of open) body.append(row(alert));
    empty.hidden = open.length > 0;
  };

  const change = async (alert, verb, button) => {
    button.disabled = true;
    say(message, "");
    try {
      const answer = await api(
        `/api/v1/alerts/${encodeURIComponent(alert.alert_id)}/${verb}`,
        { method: "POST", signal: stop.signal },
      );
      changed.set(answer.alert_id, answer);
      render();
    } catch (error) {
      if (error.name === "AbortError") return;
      button.disabled = false;
      say(message, error.message);
      if (error instanceof Refusal && error.status === 409) load();
    }
  };

  const row = (alert) => {
    const actions = el("td", { class: "actions" });
    if (mayChange) {
      if (alert.status === "RAISED") {
        actions.append(
          el("button", {
            type: "button",
            text: "Acknowledge",
            onclick: (event) => change(alert, "acknowledge", event.currentTarget),
          }),
        );
      }
      actions.append(
        el("button", {
          type: "button",
          class: "secondary",
          text: "Resolve",
          onclick: (event) => change(alert, "resolve", event.currentTarget),
        }),
      );
    }
    const by = alert.changed_by ? `${alert.changed_by}, ${when(alert.changed_at)}` : "";
    return el(
      "tr",
      { data: { alertId: alert.alert_id } },
      el("td", { class: `severity-${alert.severity}`, text: alert.severity }),
      el("td", { text: alert.rule }),
      el("td", {}, el("strong", { text: alert.title }), alert.detail ? el("div", { class: "muted", text: alert.detail }) : null),
      el("td", {}, patientLink(alert.patient_key)),
      el("td", { text: when(alert.raised_at) }),
      el("td", { class: `status status-${alert.status}`, text: alert.status }),
      el("td", { text: by }),
      actions,
    );
  };

  let loading = false;
  let again = false;

  // Read the list; one reading at a time (a reading asked for meanwhile follows it).
  const load = async () => {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    clearTimeout(timer);
    let goOn = true;
    try {
      const answer = await api("/api/v1/alerts?status=open&limit=200", { signal: stop.signal });
      listed = answer.alerts;
      refuse(section, "");
      render();
    } catch (error) {
      if (error instanceof Refusal && error.status === 403) {
        refuse(section, error.message);
        goOn = false; // the role will not change
      } else if (error instanceof Refusal && error.status === 401) {
        goOn = false;
      } else if (error.name !== "AbortError") {
        say(message, error.message);
      }
    } finally {
      loading = false;
    }
    if (!goOn || stop.signal.aborted) return;
    if (again) {
      again = false;
      load();
    } else {
      timer = setTimeout(load, EVERY_MS);
    }
  };

  load();
  return {
    refresh: load,
    stop: () => {
      clearTimeout(timer);
      stop.abort();
    },
  };
}
