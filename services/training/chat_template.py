"""The chat template of the built-in base model: ChatML with tool calls, assistant turns marked for
assistant-only loss.

Exported SFT rows (services/datasets/export.py) hold the assistant's answer as OpenAI ``tool_calls``
whose ``arguments`` are a JSON *string*; the template writes that string verbatim (``tojson`` only
when a caller passes an object), so the text the model learns is exactly the JSON the exporter kept.
Each assistant turn is (one line, split here)::

    <|im_start|>assistant\\n{% generation %}
    <tool_call>{"name": NAME, "arguments": ARGS}</tool_call><|im_end|>{% endgeneration %}\\n

``<|im_end|>`` sits inside the generation block, so TRL's assistant-only mask includes the stop token
(the model learns to stop) and TRL raises no warning. A ``tools`` list is not rendered: the Crafter
system prompt already describes ``interact_many``, and the tokenizer is fitted to that prompt, so a
request with or without ``tools`` gets the prompt the model was trained on. Content given as a list
of segments keeps its text parts.
"""

from __future__ import annotations

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"

#: Jinja source (transformers' chat-template dialect: ``{% generation %}`` marks the loss span).
CHAT_TEMPLATE = (
    "{%- macro text(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- elif content is iterable and content is not mapping -%}"
    "{%- for part in content -%}{%- if part.type == 'text' -%}{{- part.text -}}{%- endif -%}{%- endfor -%}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}"
    "{{- text(message.content) -}}"
    "{%- if message.tool_calls -%}"
    "{%- for call in message.tool_calls -%}"
    "{%- set fn = call.function if call.function is defined else call -%}"
    "{%- if loop.index0 > 0 or (message.content is string and message.content) -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>{\"name\": ' -}}{{- fn.name | tojson -}}{{- ', \"arguments\": ' -}}"
    "{%- if fn.arguments is string -%}{{- fn.arguments -}}{%- else -%}{{- fn.arguments | tojson -}}{%- endif -%}"
    "{{- '}</tool_call>' -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' -}}{{- text(message.content) -}}{{- '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
