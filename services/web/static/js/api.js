// The API, with the token of this tab: kept in sessionStorage (this tab only, gone when it
// closes), sent only as `Authorization: Bearer`, never put in a URL, never logged.

const KEY = "hl7bus.token";

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  keep(token) {
    sessionStorage.setItem(KEY, token);
  },
  forget() {
    sessionStorage.removeItem(KEY);
  },
};

// An answer other than the data asked for: the API's {"error", "message"}.
export class Refusal extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

// What to do when the API says the token is not (or no longer) valid.
export function whenUnauthorized(handler) {
  unauthorized = handler;
}

function headers(extra, token) {
  const sent = new Headers(extra);
  const bearer = token ?? session.token;
  if (bearer) sent.set("Authorization", `Bearer ${bearer}`);
  return sent;
}

const OPTIONS = { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };

async function refusalOf(response) {
  let code = "http_error";
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && typeof body.message === "string") {
      code = String(body.error);
      message = body.message;
    }
  } catch {
    // not the API's JSON: keep the plain sentence
  }
  return new Refusal(response.status, code, message);
}

async function send(path, init) {
  try {
    return await fetch(path, { ...OPTIONS, ...init });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Refusal(0, "unreachable", "The web front door does not answer.");
  }
}

// The JSON answer of `path`; a Refusal otherwise.  `token` checks a token not kept yet.
export async function api(path, { method = "GET", signal, token } = {}) {
  const response = await send(path, {
    method,
    signal,
    headers: headers({ Accept: "application/json" }, token),
  });
  if (!response.ok) {
    const refusal = await refusalOf(response);
    if (response.status === 401 && token === undefined) unauthorized(refusal);
    throw refusal;
  }
  return response.json();
}

// Server-sent events read with fetch() (EventSource cannot send the Authorization header).
// Calls onOpen once the stream answers, onEvent({id, event, data}) for each event; returns
// when the server ends the stream, with the retry delay it asked for.
export async function readEvents(path, { lastEventId, signal, onOpen, onEvent }) {
  const sent = headers({ Accept: "text/event-stream" });
  if (lastEventId) sent.set("Last-Event-ID", lastEventId);
  const response = await send(path, { signal, headers: sent });
  if (!response.ok) {
    const refusal = await refusalOf(response);
    if (response.status === 401) unauthorized(refusal);
    throw refusal;
  }
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let retry = null;
  let current = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { retry };
    buffer += value;
    const lines = buffer.split(/\r\n|\n|\r(?!$)/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (current.data.length) {
          onEvent({ id: current.id, event: current.event, data: current.data.join("\n") });
        }
        current = { id: current.id, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? "" : line.slice(colon + 1);
      if (text.startsWith(" ")) text = text.slice(1);
      if (field === "data") current.data.push(text);
      else if (field === "event") current.event = text;
      else if (field === "id") current.id = text;
      else if (field === "retry" && /^\d+$/.test(text)) retry = Number(text);
    }
  }
}

export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
