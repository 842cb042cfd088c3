"""What the privacy tests share: one person's data to erase."""

HANDLE = "pietjansen_020"
NAME = "Piet Jansen"
TEXT = "Mijn adres is Dorpsstraat 12, de verwarming doet het weer niet"
