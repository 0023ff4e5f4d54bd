# llm_patches.py: a scenario for llm_server.py (not a test itself), shared by label's vision tests
# (llm_portrait.sh, llm_large_patch.sh) through start_patch_server in llm_lib.inc.
# The OpenAI API with $OPENAI_API_KEY, GVL's context and prompt, the inputs named in $PATCH_STEMS
# (space-separated stems) and four classes. Every vision request's PNG is saved as it came
# (patch_N.png for request N, in the test's folder) for the test to compare with its references;
# the vision model describes each "Fields of wheat", and the classifier answers "Farmland".
import base64
import os

API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
PROMPT = "Detailed long description of the image: "
VISION = dict(model="vis-model", context="This is a satellite image", prompt=PROMPT,
              include_filename=False, include_classes=False, classes=[],
              stems=os.environ["PATCH_STEMS"].split(), image_size=None)
CLASSIFY = dict(model="cls-model", include_filename=False, tiles=[],
                levels=[["Water", "Buildings", "Forest", "Farmland"]],
                descriptions=[gvl_clean("Fields of wheat", PROMPT)])  # noqa: F821 (the server's)


def handle(n, kind, info):
    if kind == "vision":
        url = info["url"]
        with open("patch_%d.png" % n, "wb") as f:
            f.write(base64.b64decode(url[url.index(",") + 1:]))
        return "Fields of wheat"
    return "Farmland"
