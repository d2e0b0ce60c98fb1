// Building the page's elements.  Text goes in as text (textContent), never as HTML, so
// nothing the API answers is ever run or parsed as markup.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "data") {
      for (const [key, item] of Object.entries(value)) node.dataset[key] = String(item);
    } else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function say(node, text) {
  node.textContent = text || "";
}

// A section's note that the token's role may not see it (or "" to lift it).
export function refuse(section, text) {
  const note = $(".refused", section);
  note.textContent = text || "";
  note.hidden = !text;
}

// "2026-12-01T08:30:00+00:00" as "2026-12-01 08:30:00 +00:00": the time as it was sent,
// with its offset, never moved into the browser's zone.
export function when(text) {
  if (!text) return "";
  const found = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!found) return text;
  const zone = found[3] === "Z" ? "UTC" : found[3] || "";
  return `${found[1]} ${found[2]}${zone ? " " + zone : ""}`;
}

export function patientLink(key) {
  return el("a", { href: `#/patients/${encodeURIComponent(key)}`, class: "key" }, key);
}

export function personName(name) {
  if (!name) return "";
  const given = (name.given || []).join(" ");
  return [name.family, given].filter(Boolean).join(", ");
}
