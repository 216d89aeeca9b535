"""The web app (Gradio): a chat with cited, streamed answers, a sources panel and recommendations.

``render`` (what the page shows, escaped), ``export`` (Markdown and BibTeX), ``session`` (the
streamed reply of one chat message), ``backend`` (the Assistant, loaded in the background) and
``layout`` (the Gradio page, ``launch``).
"""
