"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class HarnessError(Exception):
    """A user-facing error: bad input, missing data, unknown name.

    The message must fit on one line and name the file, item, model or option at fault.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
