// One patient's page: their current state (/api/v1/patients/KEY) and their timeline
// (/api/v1/patients/KEY/timeline), a page at a time.

import { api } from "./api.js";
import { $, clear, el, personName, say, when } from "./dom.js";

let shown = null; // the AbortController of the page on view

export function showPatient(key) {
  shown?.abort();
  const current = new AbortController();
  shown = current;
  const summary = clear($("#patient-summary"));
  const body = clear($("#patient-timeline tbody"));
  const more = $("#timeline-more");
  const message = $("#patient-message");
  more.hidden = true;
  say(message, "");
  const path = `/api/v1/patients/${encodeURIComponent(key)}`;

  const page = async (cursor) => {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const answer = await api(`${path}/timeline?${query}`, { signal: current.signal });
    for (const entry of answer.entries) {
      body.append(
        el(
          "tr",
          {},
          el("td", { text: when(entry.occurred_at || entry.recorded_at) }),
          el("td", { class: "type", text: entry.event_type }),
          el("td", { text: entry.summary }),
          el("td", { text: entry.patient_key === answer.patient_key ? "" : entry.patient_key }),
        ),
      );
    }
    more.hidden = !answer.next_cursor;
    more.onclick = () => page(answer.next_cursor).catch(failed);
  };

  const failed = (error) => {
    if (error.name !== "AbortError") say(message, error.message);
  };

  api(path, { signal: current.signal })
    .then((patient) => summary.append(...render(patient)))
    .then(() => page(null))
    .catch(failed);
}

function render(patient) {
  const facts = el("dl", { class: "facts" });
  const fact = (term, ...value) => {
    const parts = value.flat().filter((v) => v !== null && v !== undefined && v !== "");
    if (parts.length) facts.append(el("dt", { text: term }), el("dd", {}, ...parts));
  };
  fact("Patient key", patient.patient_key);
  if (patient.merged_into) fact("Asked for", `${patient.requested_key} (merged into this patient)`);
  fact("Born", patient.birth_date);
  fact("Sex", patient.sex);
  if (patient.deceased) fact("Deceased", when(patient.deceased_at) || "yes");
  fact(
    "Identifiers",
    patient.identifiers.map((i) => `${i.value} (${[i.authority, i.type].filter(Boolean).join(" ")})`).join(", "),
  );
  const stay = patient.stay;
  if (stay) {
    const where = stay.location
      ? [stay.location.facility, stay.location.point_of_care, stay.location.room && `room ${stay.location.room}`, stay.location.bed && `bed ${stay.location.bed}`]
          .filter(Boolean)
          .join(" ")
      : "";
    fact("Stay", [stay.status, where, stay.since ? `since ${when(stay.since)}` : ""].filter(Boolean).join(", "));
  }
  fact("Allergies", patient.allergies.map((a) => a.display || a.code).filter(Boolean).join(", "));
  fact("Problems", patient.problems.map((p) => p.display || p.code).filter(Boolean).join(", "));
  fact(
    "Procedures",
    (patient.procedures || [])
      .map((p) => [p.display || p.description || p.code, p.performed_at && `(${when(p.performed_at)})`].filter(Boolean).join(" "))
      .filter(Boolean)
      .join(", "),
  );
  const alerts = Object.values(patient.alerts);
  fact(
    "Open alerts",
    alerts.map((a) => `${a.alert.title}${a.acknowledged ? ` (acknowledged by ${a.acknowledged_by})` : ""}`).join("; "),
  );
  fact("Events", String(patient.event_count));

  const parts = [el("h2", { text: personName(patient.name) || patient.patient_key }), facts];
  const results = Object.values(patient.results);
  if (results.length) {
    const rows = results.map((series) => {
      const latest = series.history[series.history.length - 1];
      return el(
        "tr",
        {},
        el("td", { text: series.display || series.code }),
        el("td", { class: "number", text: `${latest.value ?? ""} ${latest.units ?? ""}`.trim() }),
        el("td", { text: (latest.flags || []).join(" ") }),
        el("td", { text: when(latest.observed_at) }),
      );
    });
    parts.push(
      el("h3", { text: "Latest results" }),
      el(
        "table",
        { class: "results-table" },
        el("thead", {}, el("tr", {}, ["Result", "Value", "Flags", "Observed"].map((h) => el("th", { text: h })))),
        el("tbody", {}, rows),
      ),
    );
  }
  return parts;
}

export function leavePatient() {
  shown?.abort();
  shown = null;
}
