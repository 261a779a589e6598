"""``facemotion web-export``: the page as a static site that runs the models in the browser."""

from __future__ import annotations


def cmd_web_export(args) -> int:
    from ..web.export import export_site

    summary = export_site(args.dir, args.model, precision=args.precision, webgpu=not args.no_webgpu, mesh=args.mesh)
    first, *others = summary["models"]
    print(f"wrote {summary['folder']}: {summary['files']} files, {summary['bytes'] / 2**20:.1f} MiB "
          f"(the page starts on {first}{''.join(f', has {m}' for m in others)}); "
          "serve the folder from any static file host, e.g. "
          f"python -m http.server -d {summary['folder']} -b 127.0.0.1 8080")
    print("your own pages on that host load static/facemotion.js to run the models, typed for TypeScript by "
          "static/facemotion.d.ts (docs/from-face-api.md)")
    if summary["kept"]:
        kept = summary["kept"]
        print(f"kept {len(kept)} file{'s' * (len(kept) > 1)} of the folder's that the earlier export did not write: "
              f"{', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}")
    return 0


def add_commands(sub, fmt) -> None:
    from ..zoo import PRECISIONS

    s = sub.add_parser("web-export", help="the page as a static site: the models run in the visitor's browser",
                       formatter_class=fmt,
                       description="Write a folder (HTML, JS, WebAssembly, the ONNX model) that any static file host "
                                   "serves: photos and the webcam are analysed in the browser with onnxruntime-web, "
                                   "nothing is sent anywhere, and it works offline after the first visit. The "
                                   "browser's runtime files are fetched once from the npm registry (pinned, checked) "
                                   "and cached. Open it with ?selftest to analyse the bundled sample photo; pages "
                                   "of your own on the same host run the models with its static/facemotion.js.")
    s.add_argument("dir", help="output folder (new, empty, or an earlier web export, which is replaced; files it did "
                   "not write are kept)")
    s.add_argument("--model", default=None,
                   help="shipped model name or .onnx file (default: the shipped default); a shipped model's int8 variant comes along")
    s.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the model the page and facemotion.js start on: auto: the default model's int8 copy (the "
                        "browser computes it as Python's int8 copy on any CPU), a --model as named; int8: the "
                        "shipped model's int8 variant; float32: the model as named (both files are written)")
    s.add_argument("--no-webgpu", action="store_true",
                   help="leave out the WebGPU build of onnxruntime-web (16 MB): WebAssembly only")
    s.add_argument("--mesh", action="store_true",
                   help="the page also reads each face's 468 landmarks, head pose and action measures by default "
                        "(docs/mesh.md; the page has the mesh either way: ?mesh=1, ?mesh=0, the header's checkbox)")
    s.set_defaults(func=cmd_web_export)
