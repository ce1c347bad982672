// placeholder until the TFRecord work generates example.pb-c.c here
