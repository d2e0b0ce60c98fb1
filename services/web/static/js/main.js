// The operators' dashboard: asks for the token once (kept in this tab's sessionStorage),
// then runs the panels the token's role may see, and shows a patient's page at
// #/patients/KEY.  Nothing here writes to the console: no token, no patient data.

import { Refusal, api, session, whenUnauthorized } from "./api.js";
import { $, clear, refuse, say } from "./dom.js";
import { startAlerts } from "./alerts.js";
import { startBanners } from "./banner.js";
import { refuseDeadLetters, startDeadLetters } from "./deadletters.js";
import { refuseFigures, startFigures } from "./figures.js";
import { refuseLag, startLag } from "./lag.js";
import { leavePatient, showPatient } from "./patient.js";
import { refuseSearch, startSearch } from "./search.js";
import { refuseSenders, startSenders } from "./senders.js";
import { startStream } from "./stream.js";

const PATIENT = /^#\/patients\/(.+)$/;

let running = null; // { me, stops: [] } while signed in

function patientDataRefusal(role) {
  return `The role ${role} may not read patient data; it needs clinician, service or admin.`;
}

function figuresRefusal(role) {
  return `The role ${role} may not read the operators' figures; it needs operator or admin.`;
}

function deadLettersRefusal(role) {
  return `The role ${role} may not read or replay dead letters; it needs operator or admin.`;
}

function showOnly(view) {
  for (const id of ["sign-in", "overview", "patient"]) $(`#${id}`).hidden = id !== view;
}

function start(me) {
  stopAll();
  running = { me, stops: [] };
  say($("#whoami"), `${me.name} (${me.role})`);
  $("#sign-out").hidden = false;
  if (me.reads_operations) {
    running.stops.push(startFigures(), startSenders(), startLag(), startDeadLetters(), startBanners());
  } else {
    const sentence = figuresRefusal(me.role);
    refuseFigures(sentence);
    refuseSenders(sentence);
    refuseLag(sentence);
    refuseDeadLetters(deadLettersRefusal(me.role));
  }
  if (me.reads_patient_data) {
    const alerts = startAlerts({ mayChange: me.changes_alerts });
    running.stops.push(alerts.stop);
    running.stops.push(
      startStream({
        onEntry: (entry) => {
          if (entry.event_type.startsWith("ALERT_")) alerts.refresh();
        },
      }),
    );
    startSearch();
  } else {
    const sentence = patientDataRefusal(me.role);
    refuse($("#stream"), sentence);
    refuse($("#alerts"), sentence);
    $("#alerts-table").hidden = true;
    refuseSearch(sentence);
  }
  route();
}

function stopAll() {
  if (running) for (const stop of running.stops) stop();
  running = null;
  leavePatient();
  // Nothing of the last token's data stays on the page.
  for (const selector of [
    "#stream-entries",
    "#alerts-table tbody",
    "#search-results",
    "#patient-summary",
    "#patient-timeline tbody",
    "#connector-figures tbody",
    "#senders-table tbody",
    "#dead-letters-table tbody",
    "#lag-table tbody",
    "#banners",
  ]) {
    clear($(selector));
  }
  for (const section of ["#stream", "#alerts", "#search", "#connectors", "#senders", "#lag", "#dead-letters"]) {
    refuse($(section), "");
  }
  $("#alerts-table").hidden = false;
  say($("#whoami"), "");
  $("#sign-out").hidden = true;
}

function signOut(sentence) {
  stopAll();
  session.forget();
  showOnly("sign-in");
  say($("#token-error"), sentence || "");
  $("#token-input").focus();
}

function route() {
  if (!running) return;
  const found = PATIENT.exec(location.hash);
  if (found) {
    showOnly("patient");
    if (running.me.reads_patient_data) {
      let key;
      try {
        key = decodeURIComponent(found[1]);
      } catch {
        key = found[1];
      }
      showPatient(key);
    } else {
      clear($("#patient-summary"));
      say($("#patient-message"), patientDataRefusal(running.me.role));
    }
  } else {
    leavePatient();
    showOnly("overview");
  }
}

async function signIn(token) {
  const me = await api("/api/v1/me", { token });
  session.keep(token);
  say($("#token-error"), "");
  start(me);
}

whenUnauthorized((refusal) => signOut(`The token was refused: ${refusal.message}`));

$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#token-input");
  const token = input.value.trim();
  input.value = "";
  if (!token) return;
  try {
    await signIn(token);
  } catch (error) {
    session.forget();
    say(
      $("#token-error"),
      error instanceof Refusal && error.status === 401
        ? `The token was refused: ${error.message}`
        : error.message,
    );
  }
});

$("#sign-out").addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", route);

(async () => {
  const kept = session.token;
  if (!kept) {
    signOut("");
    return;
  }
  try {
    await signIn(kept);
  } catch (error) {
    if (error instanceof Refusal && error.status === 401) signOut(`The token was refused: ${error.message}`);
    else {
      showOnly("sign-in");
      say($("#token-error"), error.message);
    }
  }
})();
