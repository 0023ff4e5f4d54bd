#!/usr/bin/python3
"""A loopback chat-completions server for the LLM tests, speaking the wire format as the OpenAI
and Azure OpenAI references document it. Every request is checked (method, path, api-version,
auth header, content type, JSON schema, the image_url data URL decoded with Pillow, and the
message texts against GeoVision Labeler's f-strings); a request that fails a check is answered 400
and written to the violations file. Answers come from a scenario module the test writes.

usage: llm_server.py SCENARIO.py PORT_FILE LOG.jsonl VIOLATIONS.txt
The server binds 127.0.0.1 on a free port, writes the port to PORT_FILE, and runs until killed.
"""
import base64
import importlib.util
import io
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

PORT_FILE, LOG, VIOLATIONS = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
count = {"n": 0}


# ---------------------------------------------------------------- GVL's texts (its f-strings)

def gvl_vision_text(context, stem, classes, prompt, include_filename, include_classes):
    # vision.py, without the chat template
    t = context + ". "
    if include_filename:
        t += f"The file name with geo-information is {stem}. "
    if include_classes:
        t += f"The image belongs to one of the following classes: {', '.join(classes)}. "
    return t + prompt


def gvl_vision_parts(context, stem, classes, prompt, include_filename, include_classes):
    # vision.py, with the chat template: one text part each
    parts = [f"{context}. "]
    if include_filename:
        parts.append(f"The file name with geo-information is {stem}. ")
    if include_classes:
        parts.append(f"The image belongs to one of the following classes: {', '.join(classes)}. ")
    return parts + [prompt]


def gvl_clean(generated_text, prompt):
    # vision.py's cleaning, expression for expression
    generated_text = re.sub(r"<.*?>.*?<.*?>", "", generated_text)
    generated_text = generated_text.replace("user\n\n", "").replace("assistant\n\n", "")
    return re.sub(rf"^.*?{re.escape(prompt.lower())}", "", generated_text.lower()).strip()


def gvl_classifier_text(description, include_filename, filename, classes):
    # classifier.py (classify_with_huggingface)
    filename_str = (f"Use the filename [{filename}] to locate the place and use that in your "
                    "prediction. ") if include_filename else ""
    return (f"Given a text describing a place, output one of the following classes: "
            f"{', '.join(classes)}. "
            f"{filename_str}"
            f"Don't output anything else but one of the classes. Description: {description}. "
            "Class: ")


def gvl_cluster_names_text(classes, num_clusters):
    # cluster.py (cluster_classes_with_openai)
    return (f"Cluster the following list of classes into {num_clusters} clusters based on their "
            f"semantic similarity. "
            f"Provide a name for each cluster and list the classes under each cluster. "
            f"Here is the list of classes:\n\n{', '.join(classes)}\n\n"
            f"Output the result in the following format:\n"
            f"Cluster_1: [Suggested name]\n"
            f"Cluster_2: [Suggested name]\n"
            f"...\n"
            f"Don't output anything else but the clusters' names.")


def gvl_cluster_assign_text(clusters, class_):
    return (f"Classify the following class into one of the categories: {', '.join(clusters)}. "
            f"Here is the class:\n\n{class_}\n\n"
            f"Output the result in the following format:\n"
            f"Cat: [Category name]\n"
            f"...\n"
            f"Don't output anything else but the categories.")


class Raw:
    """An answer sent as is: status, headers, body bytes, after a delay; cut=True sends fewer
    bytes than Content-Length says and closes the connection."""

    def __init__(self, status, body=b"", headers=None, delay=0.0, cut=False):
        self.status, self.body, self.headers = status, body, headers or {}
        self.delay, self.cut = delay, cut


def completion(content, prompt_tokens, completion_tokens, model, finish="stop", refusal=None,
               choices=True):
    body = {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": content, "refusal": refusal},
                     "logprobs": None, "finish_reason": finish}] if choices else [],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
    return json.dumps(body).encode()


# The scenario sees Raw, completion and the GVL texts as globals.
spec = importlib.util.spec_from_file_location("scenario", sys.argv[1])
S = importlib.util.module_from_spec(spec)
for _name in ("Raw", "completion", "gvl_clean", "gvl_classifier_text", "gvl_vision_text"):
    setattr(S, _name, globals()[_name])
spec.loader.exec_module(S)


# ---------------------------------------------------------------- checks

class Violation(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Violation(msg)


def check_image(url, want_size):
    prefix = "data:image/png;base64,"
    need(url.startswith(prefix), "image_url is not a base64 PNG data URL")
    raw = base64.b64decode(url[len(prefix):], validate=True)
    img = Image.open(io.BytesIO(raw))
    img.load()
    need(img.format == "PNG", f"image is {img.format}, not PNG")
    need(img.mode == "RGB", f"image mode {img.mode}, not RGB")
    if want_size is not None:
        need(img.size == tuple(want_size), f"image is {img.size}, expected {tuple(want_size)}")
    return img.size


def check_schema(req):
    need(isinstance(req, dict), "body is not a JSON object")
    need(isinstance(req.get("model"), str) and req["model"], "model missing")
    msgs = req.get("messages")
    need(isinstance(msgs, list) and msgs, "messages must be a non-empty array")
    for m in msgs:
        need(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant"), "bad role")
        c = m.get("content")
        if isinstance(c, list):
            need(c, "empty content parts")
            for p in c:
                need(isinstance(p, dict) and p.get("type") in ("text", "image_url"), "bad part")
                if p["type"] == "text":
                    need(isinstance(p.get("text"), str), "text part without text")
                else:
                    need(isinstance(p.get("image_url"), dict)
                         and isinstance(p["image_url"].get("url"), str), "bad image_url part")
        else:
            need(isinstance(c, str), "content is neither a string nor parts")
    for k in req:
        need(k in ("model", "messages", "max_tokens", "temperature"), f"unexpected field {k}")
    if "max_tokens" in req:
        need(isinstance(req["max_tokens"], int) and req["max_tokens"] > 0, "bad max_tokens")
    if "temperature" in req:
        t = req["temperature"]
        need(isinstance(t, (int, float)) and 0 <= t <= 2, "bad temperature")


def classify_request(req):
    """What the request is: ("vision", info) / ("classify", info) / ("cluster", info)."""
    msgs = req["messages"]
    user = msgs[-1]["content"]
    if isinstance(user, list) and any(p["type"] == "image_url" for p in user):
        need(len(msgs) == 1, "the vision request has one user message")
        images = [p for p in user if p["type"] == "image_url"]
        texts = [p["text"] for p in user if p["type"] == "text"]
        need(len(images) == 1 and user[0]["type"] == "image_url", "one image, first")
        return "vision", {"url": images[0]["image_url"]["url"], "texts": texts}
    if len(msgs) == 2 and msgs[0]["role"] == "system":
        need(msgs[0]["content"] == "You are a classifier.", "wrong system message")
        need(isinstance(user, str), "classifier content is a string")
        return "classify", {"text": user}
    # cluster.py's requests: one user message; a re-ask adds the answer and one more user turn
    need(all(isinstance(m["content"], str) for m in msgs), "cluster turns are strings")
    need([m["role"] for m in msgs] in (["user"], ["user", "assistant", "user"]), "cluster turns")
    return "cluster", {"text": msgs[0]["content"], "reask": len(msgs) == 3,
                       "previous": msgs[1]["content"] if len(msgs) == 3 else None}


def expected_vision(info):
    v = S.VISION
    for stem in v["stems"]:
        if v.get("template"):
            want = gvl_vision_parts(v["context"], stem, v["classes"], v["prompt"],
                                    v["include_filename"], v["include_classes"])
            if info["texts"] == want:
                return stem
        else:
            want = gvl_vision_text(v["context"], stem, v["classes"], v["prompt"],
                                   v["include_filename"], v["include_classes"])
            if info["texts"] == [want]:
                return stem
    raise Violation(f"vision text not GVL's for any input: {info['texts']!r}")


def expected_classify(text):
    c = S.CLASSIFY
    # without --include-filename the text names no tile
    for tile in c["tiles"] if c["include_filename"] else [None]:
        for cands in c["levels"]:
            for desc in c["descriptions"]:
                if text == gvl_classifier_text(desc, c["include_filename"], tile, cands):
                    return tile, cands, desc
    raise Violation(f"classifier text not GVL's for any tile/level/description: {text!r}")


def expected_cluster(text):
    c = S.CLUSTER
    for group, k in c["groups"]:
        if text == gvl_cluster_names_text(group, k):
            return "names", group, k
    for names in c["name_sets"]:
        for cls in c["classes"]:
            if text == gvl_cluster_assign_text(names, cls):
                return "assign", names, cls
    raise Violation(f"cluster text not GVL's: {text!r}")


def check_route(handler, kind_model):
    url = urlsplit(handler.path)
    if S.API == "azure":
        m = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", url.path)
        need(m, f"not an Azure deployments path: {url.path}")
        q = parse_qs(url.query)
        need(q.get("api-version") == [S.API_VERSION], f"api-version {q.get('api-version')}")
        need(handler.headers.get("api-key") == S.KEY, "api-key header missing or wrong")
        need(handler.headers.get("Authorization") is None, "Azure takes api-key, not Bearer")
        return m.group(1)
    need(url.path == "/v1/chat/completions" and not url.query, f"path {handler.path}")
    if S.KEY is None:
        need(handler.headers.get("Authorization") is None, "no key was set, none may be sent")
    else:
        need(handler.headers.get("Authorization") == f"Bearer {S.KEY}", "bad Authorization")
    return None


# ---------------------------------------------------------------- the handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json", headers=None, cut=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) + (100 if cut else 0)))
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if cut:
            self.close_connection = True

    def violation(self, msg):
        with lock:
            with open(VIOLATIONS, "a") as f:
                f.write(msg + "\n")
        self.send(400, json.dumps({"error": {"message": msg, "type": "invalid_request_error"}})
                  .encode())

    def do_GET(self):
        self.violation(f"GET {self.path}: chat completions are POSTed")

    def do_POST(self):
        with lock:
            count["n"] += 1
            count["inflight"] = count.get("inflight", 0) + 1
            n, inflight = count["n"], count["inflight"]
        try:
            self.serve(n, inflight)
        finally:
            with lock:
                count["inflight"] -= 1

    def serve(self, n, inflight):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            need(self.headers.get("Content-Type", "").split(";")[0] == "application/json",
                 "Content-Type is not application/json")
            deployment = check_route(self, None)
            req = json.loads(raw)
            check_schema(req)
            kind, info = classify_request(req)
            if kind == "vision":
                info["stem"] = expected_vision(info)
                info["size"] = check_image(info["url"], S.VISION.get("image_size"))
                model = S.VISION["model"]
                need(req.get("max_tokens") == S.VISION.get("max_tokens", 128), "max_tokens")
            elif kind == "classify":
                info["tile"], info["candidates"], info["desc"] = expected_classify(info["text"])
                model = S.CLASSIFY["model"]
            else:
                info["cluster"] = expected_cluster(info["text"])
                model = S.CLUSTER["model"]
            if S.API == "azure":
                need(deployment == model, f"deployment {deployment}, expected {model}")
            else:
                need(req["model"] == model, f"model {req['model']}, expected {model}")
        except (Violation, ValueError, KeyError) as e:
            self.violation(f"request {n}: {e}")
            return
        answer = S.handle(n, kind, info)
        entry = {"n": n, "kind": kind, "path": self.path, "t": time.time(), "inflight": inflight,
                 "peer": self.client_address[1]}
        for k in ("stem", "tile", "candidates", "desc", "size", "cluster", "reask"):
            if k in info:
                entry[k] = info[k]
        if isinstance(answer, Raw):
            entry["status"] = answer.status
            self.log(entry)
            if answer.delay:
                time.sleep(answer.delay)
            ctype = answer.headers.pop("Content-Type", "application/json")
            self.send(answer.status, answer.body, ctype, answer.headers, answer.cut)
            return
        pt, ct = len(json.dumps(req)) // 100 + 1, len(answer) // 4 + 1
        entry.update(status=200, answer=answer, prompt_tokens=pt, completion_tokens=ct)
        self.log(entry)
        self.send(200, completion(answer, pt, ct, model))

    def log(self, entry):
        with lock:
            with open(LOG, "a") as f:
                f.write(json.dumps(entry) + "\n")


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
