// placeholder: filled by its issue work
