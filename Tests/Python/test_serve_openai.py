"""`prism serve` driven by the official OpenAI Python client (and curl), as users run it.

Run by Tools/test.sh after `swift test` (which builds .build/debug/prism); PRISM_BIN overrides the binary.
Starts servers on 127.0.0.1 with free ports and the embedded models, and stops them at the end.
"""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

import numpy as np
import openai
from pycocotools import mask as mask_utils

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRISM = os.environ.get("PRISM_BIN", os.path.join(ROOT, ".build", "debug", "prism"))
SCENE = os.path.join(ROOT, "Weights", "examples", "scene.png")
RANDOM_MODEL = os.path.join(ROOT, "Tests", "PrismChatTests", "Fixtures", "chat_tiny")
KEY = "test-key"


def data_uri(path):
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


class Server:
    """`prism serve --port 0 …` as a child process; the bound port is read from its start line."""

    def __init__(self, *args):
        env = dict(os.environ, PRISM_HOME=ROOT)
        self.proc = subprocess.Popen([PRISM, "serve", "--port", "0", *args], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"prism serve exited with {self.proc.wait()}")
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise RuntimeError("prism serve did not start")
        self.base = f"http://127.0.0.1:{self.port}"
        def drain(pipe=self.proc.stderr):   # keep the pipe drained, close it at EOF
            pipe.read()
            pipe.close()
        threading.Thread(target=drain, daemon=True).start()

    def client(self, key=KEY, **kw):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def post(url, body, key=KEY):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class ServeOpenAITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-key", KEY, "--max-body-bytes", "2000000")
        cls.client = cls.server.client()
        cls.scene = data_uri(SCENE)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def ask(self, question, images, **kw):
        content = [{"type": "image_url", "image_url": {"url": u}} for u in images] + [{"type": "text", "text": question}]
        return self.client.chat.completions.create(model="prism-vl-tiny", messages=[{"role": "user", "content": content}],
                                                   temperature=0, seed=0, max_tokens=48, **kw)

    def test_models(self):
        self.assertEqual([m.id for m in self.client.models.list().data], ["prism-vl-tiny", "prism-sam-tiny"])

    def test_greedy_answer_equals_prism_ask(self):
        r = self.ask("What color is the star?", [self.scene])
        ask = subprocess.run([PRISM, "ask", "--image", SCENE, "-p", "What color is the star?", "--temp", "0", "--seed", "0",
                              "--max-tokens", "48"], capture_output=True, text=True, env=dict(os.environ, PRISM_HOME=ROOT), check=True)
        self.assertEqual(r.choices[0].message.content + "\n", ask.stdout)
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
        self.assertGreater(r.usage.prompt_tokens, 20)

    def test_streaming_equals_non_streaming(self):
        whole = self.ask("Describe the image.", [self.scene])
        chunks = list(self.ask("Describe the image.", [self.scene], stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertEqual(text, whole.choices[0].message.content)
        self.assertEqual([c.choices[0].finish_reason for c in chunks if c.choices][-1], "stop")
        self.assertEqual(chunks[-1].usage.completion_tokens, whole.usage.completion_tokens)

    def test_two_images_and_length(self):
        one = self.ask("How many stars are there?", [self.scene])
        two = self.ask("Describe the image.", [self.scene, self.scene], max_completion_tokens=2)
        self.assertGreater(two.usage.prompt_tokens, one.usage.prompt_tokens)
        self.assertEqual(two.choices[0].finish_reason, "length")
        self.assertEqual(two.usage.completion_tokens, 2)

    def test_errors(self):
        with self.assertRaises(openai.AuthenticationError) as e:
            self.server.client(key="wrong").models.list()
        self.assertEqual(e.exception.status_code, 401)
        with self.assertRaises(openai.BadRequestError) as e:
            self.ask("?", ["data:image/png;base64,AAAA"])
        self.assertEqual(e.exception.body["code"], "invalid_image")
        self.assertEqual(e.exception.body["param"], "messages[0].content[0].image_url")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model="prism-vl-tiny", messages=[{"role": "user", "content": 5}])
        self.assertEqual(e.exception.body["param"], "messages[0].content")
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        with self.assertRaises(openai.APIStatusError) as e:
            self.client.chat.completions.create(model="prism-vl-tiny", messages=[{"role": "user", "content": "x" * 2_100_000}])
        self.assertEqual(e.exception.status_code, 413)

    def test_queue_full(self):
        small = Server("-m", RANDOM_MODEL, "--parallel", "1", "--max-queue", "0")
        try:
            client = small.client()
            stream = client.chat.completions.create(model="chat_tiny", messages=[{"role": "user", "content": "go"}],
                                                    max_tokens=4000, stream=True,
                                                    extra_body={"ignore_eos": True})   # a random model may stop early
            next(iter(stream))
            with self.assertRaises(openai.RateLimitError) as e:
                client.chat.completions.create(model="chat_tiny", messages=[{"role": "user", "content": "hi"}])
            self.assertEqual(e.exception.response.headers["retry-after"], "1")
            self.assertEqual(e.exception.body["code"], "queue_full")
            stream.close()
        finally:
            small.stop()

    def test_timeout(self):
        slow = Server("-m", RANDOM_MODEL, "--timeout", "0.2")
        try:
            client = slow.client()
            with self.assertRaises(openai.APIStatusError) as e:
                client.chat.completions.create(model="chat_tiny", messages=[{"role": "user", "content": "go"}], max_tokens=4000,
                                               extra_body={"ignore_eos": True})
            self.assertEqual(e.exception.status_code, 504)
            self.assertEqual(e.exception.body["code"], "timeout")
            stream = client.chat.completions.create(model="chat_tiny", messages=[{"role": "user", "content": "go"}],
                                                    max_tokens=4000, stream=True,
                                                    extra_body={"ignore_eos": True})
            with self.assertRaises(openai.APIError) as e:
                for _ in stream:                       # the stream ends with the timeout error event
                    pass
            self.assertIn("0 s limit", str(e.exception))
        finally:
            slow.stop()

    def test_segment_rle_decodes_with_pycocotools(self):
        status, r = post(self.server.base + "/v1/segment", {"image": self.scene, "points": [[215, 262]], "labels": [1], "multimask": True})
        self.assertEqual(status, 200, r)
        self.assertEqual(len(r["masks"]), 3)
        for m in r["masks"]:
            rle = dict(m["segmentation"])
            decoded = mask_utils.decode(rle)
            self.assertEqual(list(decoded.shape), rle["size"])
            self.assertEqual(int(decoded.sum()), m["area"])
            self.assertEqual(int(mask_utils.area(rle)), m["area"])
            self.assertEqual([int(v) for v in mask_utils.toBbox(rle)], m["bbox"])
            # pycocotools' own encoding of the decoded mask is the same string
            self.assertEqual(mask_utils.encode(np.asfortranarray(decoded))["counts"].decode(), rle["counts"])
        best = max(r["masks"], key=lambda m: m["score"])
        self.assertTrue(mask_utils.decode(best["segmentation"])[262, 215], "the clicked pixel is inside the best mask")

    def test_curl(self):
        body = json.dumps({"model": "prism-vl-tiny", "temperature": 0, "max_tokens": 4, "ignore_eos": True,
                           "messages": [{"role": "user", "content": "hello"}]})
        out = subprocess.run(["curl", "-sS", self.server.base + "/v1/chat/completions", "-H", f"Authorization: Bearer {KEY}",
                              "-H", "Content-Type: application/json", "-d", body], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        self.assertEqual(r["object"], "chat.completion")
        self.assertEqual(r["usage"]["completion_tokens"], 4)
        health = subprocess.run(["curl", "-sS", self.server.base + "/health"], capture_output=True, text=True, check=True)
        self.assertEqual(json.loads(health.stdout)["status"], "ok")

    def test_sigterm_drains_then_exits(self):
        s = Server("-m", RANDOM_MODEL)
        try:
            stream = s.client().chat.completions.create(model="chat_tiny", messages=[{"role": "user", "content": "go"}],
                                                        max_tokens=150, stream=True,
                                                        extra_body={"ignore_eos": True})   # a random model may stop early
            chunks = [next(iter(stream))]
            s.proc.send_signal(signal.SIGTERM)
            chunks += list(stream)
            self.assertEqual([c.choices[0].finish_reason for c in chunks if c.choices][-1], "length")
            self.assertEqual(s.proc.wait(timeout=60), 0)
        finally:
            s.stop()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
