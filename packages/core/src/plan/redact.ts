import { isAlias, isMap, isScalar, parseDocument, type Document, type Node } from "yaml";

export const REDACTED = "[REDACTED]";

/**
 * A URL without what may be a credential: its origin stays (to tell one webhook from another), the user
 * info, path, query and fragment go (Slack, Discord and similar webhooks carry their token in the path).
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return REDACTED;
  }
  if (!url.username && !url.password && url.pathname === "/" && !url.search && !url.hash) return text;
  return `${url.origin}/${REDACTED}`;
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s'"`<>]+/g;

/**
 * The plan text as the journal keeps it (to show what changed when the plan is edited): the same text
 * with the values that may hold a credential redacted, `notify.webhook` (or its `url`) and the URLs in
 * `notify.command`. Tokens for providers come from the environment and are never in the plan; the plan's
 * hash is of the text as written, so any edit, a new token included, is still seen.
 */
export function redactPlanText(text: string): string {
  let doc: Document;
  try {
    doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  } catch {
    return text.replace(URL_IN_TEXT, (u) => redactUrl(u));
  }
  const edits: Array<{ from: number; to: number; value: string; original: string }> = [];
  const scalarAt = (path: string[]): { node: Node; value: string } | undefined => {
    let node = doc.getIn(path, true) as Node | undefined;
    if (node && isAlias(node)) node = node.resolve(doc) as Node | undefined;
    return node && isScalar(node) && typeof node.value === "string" && node.range
      ? { node, value: node.value }
      : undefined;
  };
  const webhook = doc.getIn(["notify", "webhook"], true) as Node | undefined;
  const urlNode = scalarAt(
    webhook && (isMap(webhook) || (isAlias(webhook) && isMap(webhook.resolve(doc))))
      ? ["notify", "webhook", "url"]
      : ["notify", "webhook"],
  );
  if (urlNode) edits.push({ ...range(urlNode.node), value: redactUrl(urlNode.value), original: urlNode.value });
  const command = scalarAt(["notify", "command"]);
  if (command) {
    const value = command.value.replace(URL_IN_TEXT, (u) => redactUrl(u));
    if (value !== command.value) edits.push({ ...range(command.node), value, original: command.value });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.from - a.from))
    out = `${out.slice(0, e.from)}${JSON.stringify(e.value)}${out.slice(e.to)}`;
  // The same URLs written anywhere else (a comment, an anchor used twice) go too.
  for (const e of edits)
    for (const u of e.original.match(URL_IN_TEXT) ?? [e.original]) {
      const redacted = redactUrl(u);
      if (redacted !== u) out = out.split(u).join(redacted);
    }
  return out;
}

function range(node: Node): { from: number; to: number } {
  const [from, to] = node.range ?? [0, 0];
  return { from, to };
}
