"""Card stack: APDUs, the My Number Card / マイナ免許証 / IC licence, and readers.

Layers, bottom up:
  reader.py     the small Reader/Connection interface every transport implements
  apdu.py       APDU framing, 61xx/6Cxx, READ BINARY loops, the masked trace hook
  tlv.py, jis.py, licence_tags.py   decoders
  pins.py       PIN ids, formats and the wipeable Pin buffer
  card.py       what the kiosk reads and signs, with the PIN rules enforced
  sim/          the simulated card used by tests and benches
"""
