// placeholder: filled by the IM core work
