"""The main-job demo: one task per source file of this machine's Python standard library."""
