// Renders /openapi.json as a page: every operation, what it takes and what it answers.
"use strict";

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function schemaText(schema, spec, depth = 0) {
  if (!schema) return "";
  if (schema.$ref) return schemaText(spec.components.schemas[schema.$ref.split("/").pop()], spec, depth);
  if (schema.type === "object" && schema.properties) {
    const pad = "  ".repeat(depth + 1);
    const fields = Object.entries(schema.properties).map(([k, v]) =>
      `${pad}"${k}": ${schemaText(v, spec, depth + 1)}${v.description ? `  // ${v.description}` : ""}`);
    return `{\n${fields.join(",\n")}\n${"  ".repeat(depth)}}`;
  }
  if (schema.type === "array") {
    if (schema.prefixItems) return `[${schema.prefixItems.map((s) => schemaText(s, spec, depth)).join(", ")}]`;
    return `[${schemaText(schema.items, spec, depth)}, ...]`;
  }
  if (schema.additionalProperties) return `{"<name>": ${schemaText(schema.additionalProperties, spec, depth)}}`;
  return schema.format === "binary" ? "<bytes>" : schema.type || "any";
}

fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  document.getElementById("intro").textContent = spec.info.description || "";
  const out = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const body = op.requestBody ? Object.keys(op.requestBody.content).map((c) => `<code>${esc(c)}</code>`).join(", ") : "";
      const params = (op.parameters || []).map((p) =>
        `<code>?${esc(p.name)}=</code> ${esc(schemaText(p.schema, spec))}${p.schema && "default" in p.schema ? ` (default ${esc(p.schema.default)})` : ""}`);
      const answers = Object.entries(op.responses).map(([code, r]) => {
        const content = r.content || {};
        const json = content["application/json"];
        const shape = json && json.schema ? `<pre>${esc(schemaText(json.schema, spec))}</pre>` :
          Object.keys(content).map((c) => `<code>${esc(c)}</code>`).join(", ");
        return `<li><b>${esc(code)}</b> ${esc(r.description || "")} ${shape}</li>`;
      });
      out.push(`<section class="op"><h2><span class="method ${method}">${method.toUpperCase()}</span> ${esc(path)}</h2>
        <p>${esc(op.summary || "")}</p>
        ${body ? `<p>Body: ${body}</p>` : ""}${params.length ? `<p>Query: ${params.join("; ")}</p>` : ""}
        <ul>${answers.join("")}</ul></section>`);
    }
  }
  document.getElementById("ops").innerHTML = out.join("");
});
