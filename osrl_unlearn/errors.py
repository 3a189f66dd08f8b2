"""The one exception type the command line turns into a single clear error line."""


class UserInputError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it."""
