"""The Excel add-in's storage: the open book, a sync into the open master, the «Отправить» inbox."""
