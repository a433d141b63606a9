"""What a person sees: the console (the one writer, under one lock) and the views."""
