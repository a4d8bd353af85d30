// The API reference page: fetches /v1/openapi.json (generated from the handlers) and lists
// its operations (parameters, request bodies, responses, security) and its schemas. Plain
// DOM, no dependencies; every text from the document is set as text, never as HTML.
"use strict";

(function () {
  const main = document.getElementById("ref-main");
  const nav = document.getElementById("ref-nav");
  const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // Descriptions use `code` spans; everything else stays plain text.
  function prose(text, tag = "p", cls = "ref-desc") {
    const p = el(tag, { class: cls });
    String(text || "")
      .split(/(`[^`]*`)/)
      .forEach((part) => p.append(part.startsWith("`") && part.endsWith("`") && part.length > 1 ? el("code", {}, part.slice(1, -1)) : part));
    return p;
  }

  const refName = (ref) => ref.replace(/^#\/components\/schemas\//, "");
  const anchor = (kind, name) => `${kind}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;

  // A schema's type, short: a link for a reference, `[T]` for arrays, `A | B` for unions.
  function typeOf(s) {
    if (!s) return "any";
    if (s.$ref) {
      const n = refName(s.$ref);
      return el("a", { href: `#${anchor("schema", n)}`, class: "ref-type" }, n);
    }
    const alts = s.oneOf || s.anyOf;
    if (alts) return joinTypes(alts.map(typeOf), " | ");
    if (s.allOf) return joinTypes(s.allOf.map(typeOf), " & ");
    let t = s.type;
    if (Array.isArray(t)) {
      const parts = t.map((x) => (x === "array" ? el("span", { class: "ref-type" }, "[", typeOf(s.items), "]") : el("span", { class: "ref-type" }, x)));
      return joinTypes(parts, " | ");
    }
    if (t === "array") return el("span", { class: "ref-type" }, "[", typeOf(s.items), "]");
    let text = t || (Object.keys(s).length ? "object" : "any");
    if (s.format) text += ` (${s.format})`;
    if (s.enum) text += `: ${s.enum.map((v) => JSON.stringify(v)).join(" | ")}`;
    return el("span", { class: "ref-type" }, text);
  }

  function joinTypes(parts, sep) {
    const span = el("span", {});
    parts.forEach((p, i) => {
      if (i) span.append(sep);
      span.append(p);
    });
    return span;
  }

  // The fields of an object schema (following allOf), as a table.
  function fieldsTable(schema, schemas) {
    const rows = [];
    const walk = (s) => {
      if (!s) return;
      if (s.$ref) return walk(schemas[refName(s.$ref)]);
      (s.allOf || []).forEach(walk);
      const required = new Set(s.required || []);
      for (const [name, f] of Object.entries(s.properties || {})) {
        rows.push(el("tr", {}, el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "ref-req" }, "required") : null), el("td", {}, typeOf(f)), el("td", {}, prose(f.description, "span", ""))));
      }
    };
    walk(schema);
    if (!rows.length) return null;
    return el("table", { class: "ref-table" }, el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "description"))), el("tbody", {}, rows));
  }

  function security(op, doc) {
    const reqs = op.security !== undefined ? op.security : doc.security || [];
    const names = reqs.map((r) => Object.entries(r).map(([name, scopes]) => (scopes.length ? `${name} (${scopes.join(", ")})` : name)).join(" + ")).filter((s) => s);
    return el("p", { class: "ref-auth" }, "Auth: ", names.length ? names.join(" or ") : "none");
  }

  function parameters(op, item) {
    const params = [...(item.parameters || []), ...(op.parameters || [])];
    if (!params.length) return null;
    return [
      el("h4", {}, "Parameters"),
      el(
        "table",
        { class: "ref-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description"))),
        el("tbody", {}, params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "ref-req" }, "required") : null), el("td", {}, p.in), el("td", {}, typeOf(p.schema)), el("td", {}, prose(p.description, "span", ""))))),
      ),
    ];
  }

  function contents(content) {
    return Object.entries(content || {}).map(([type, media]) => el("div", {}, el("code", {}, type), media.schema ? [" ", typeOf(media.schema)] : null));
  }

  function requestBody(op) {
    const body = op.requestBody;
    if (!body) return null;
    return [el("h4", {}, "Request body", body.required ? el("span", { class: "ref-req" }, "required") : null), body.description ? prose(body.description) : null, contents(body.content)];
  }

  function responses(op) {
    const rows = Object.entries(op.responses || {}).map(([status, r]) =>
      el("tr", {}, el("td", {}, el("span", { class: `ref-status s${status[0]}` }, status)), el("td", {}, prose(r.description, "span", "")), el("td", {}, contents(r.content))),
    );
    return [el("h4", {}, "Responses"), el("table", { class: "ref-table" }, el("thead", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"), el("th", {}, "body"))), el("tbody", {}, rows))];
  }

  function render(doc) {
    main.replaceChildren();
    const info = doc.info || {};
    main.append(el("h1", {}, `${info.title || "API"} ${info.version || ""}`), prose(info.description), el("p", {}, "OpenAPI ", doc.openapi, " · ", el("a", { href: "/v1/openapi.json" }, "openapi.json")));

    const schemes = (doc.components || {}).securitySchemes || {};
    if (Object.keys(schemes).length) {
      main.append(el("h2", {}, "Authentication"));
      main.append(el("table", { class: "ref-table" }, el("tbody", {}, Object.entries(schemes).map(([name, s]) => el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, `${s.type} ${s.scheme || ""} ${s.bearerFormat || ""}`), el("td", {}, prose(s.description, "span", "")))))));
    }

    // Operations by tag, in the document's tag order.
    const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags || ["other"])[0];
        if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
        byTag.get(tag).ops.push({ path, method, op, item });
      }
    }
    let count = 0;
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      const section = el("section", { class: "tag", id: anchor("tag", tag.name) }, el("h2", {}, tag.name), tag.description ? prose(tag.description) : null);
      nav.append(el("h3", {}, tag.name));
      for (const { path, method, op, item } of ops) {
        const id = anchor("op", op.operationId || `${method}-${path}`);
        nav.append(el("a", { href: `#${id}`, title: `${method.toUpperCase()} ${path}` }, `${method.toUpperCase()} ${path}`));
        section.append(
          el(
            "article",
            { class: "ref-op", id, "data-method": method, "data-path": path },
            el("h3", {}, el("span", { class: `ref-method ${method}` }, method.toUpperCase()), el("code", {}, path)),
            op.summary ? prose(op.summary, "p", "ref-desc") : null,
            op.description ? prose(op.description) : null,
            security(op, doc),
            parameters(op, item),
            requestBody(op),
            responses(op),
          ),
        );
        count++;
      }
      main.append(section);
    }

    const schemas = (doc.components || {}).schemas || {};
    main.append(el("h2", { id: "schemas" }, "Schemas"));
    nav.append(el("h3", {}, el("a", { href: "#schemas" }, "schemas")));
    for (const [name, s] of Object.entries(schemas)) {
      main.append(el("section", { class: "ref-schema", id: anchor("schema", name) }, el("h3", {}, name), s.description ? prose(s.description) : null, fieldsTable(s, schemas) || el("p", {}, typeOf(s))));
    }
    document.body.dataset.operations = String(count);
    document.body.dataset.schemas = String(Object.keys(schemas).length);
  }

  fetch("/v1/openapi.json")
    .then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.json();
    })
    .then(render)
    .catch((e) => {
      main.replaceChildren(el("p", { class: "error" }, `Could not load /v1/openapi.json: ${e.message}`));
      document.body.dataset.error = e.message;
    });
})();
