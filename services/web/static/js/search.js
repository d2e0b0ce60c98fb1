// Find a patient by name (FAMILY or FAMILY,GIVEN: the start of each) or by identifier
// (/api/v1/patients), each found one leading to their page.

import { Refusal, api } from "./api.js";
import { $, clear, el, patientLink, personName, refuse, say } from "./dom.js";

export function startSearch() {
  const section = $("#search");
  const form = $("#search-form");
  const by = $("#search-by");
  const text = $("#search-text");
  const results = $("#search-results");
  const message = $("#search-message");
  refuse(section, "");
  form.hidden = false;

  form.onsubmit = async (event) => {
    event.preventDefault();
    const query = text.value.trim();
    if (!query) return;
    clear(results);
    say(message, "Searching…");
    try {
      const answer = await api(
        `/api/v1/patients?${new URLSearchParams({ [by.value]: query, limit: "50" })}`,
      );
      say(message, answer.patients.length ? "" : "No patient found.");
      for (const patient of answer.patients) {
        const facts = [
          personName(patient.name),
          patient.birth_date ? `born ${patient.birth_date}` : "",
          patient.sex || "",
          `${patient.event_count} events`,
        ].filter(Boolean);
        results.append(
          el("li", {}, patientLink(patient.patient_key), el("span", { class: "who", text: facts.join(" · ") })),
        );
      }
    } catch (error) {
      say(message, "");
      if (error instanceof Refusal && error.status === 403) {
        refuse(section, error.message);
        form.hidden = true;
      } else {
        say(message, error.message);
      }
    }
  };
}

export function refuseSearch(sentence) {
  refuse($("#search"), sentence);
  $("#search-form").hidden = true;
  clear($("#search-results"));
}
