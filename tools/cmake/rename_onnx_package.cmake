# Copies onnx.proto to OUT with its package renamed to joule_onnx (cmake -DIN=... -DOUT=... -P this).
file(READ "${IN}" _text)
string(REPLACE "package onnx;" "package joule_onnx;" _text "${_text}")
file(WRITE "${OUT}" "${_text}")
