"""Hand-written Dutch mentions for the demo organisation, a housing corporation ("Woonstad").

Each entry: (handle, name, text, minutes ago, replies). Replies are (handle, text, minutes ago);
a reply from "woonstad" is our own answer.
"""

EXAMPLES = [
    (
        "marieke_r",
        "Marieke R.",
        "@woonstad al drie dagen geen warm water in de Kastanjelaan 12, de cv-ketel geeft storing E119. Wanneer komt er iemand?",
        12,
        [],
    ),
    (
        "jdevries",
        "Jan de Vries",
        "Lekkage in de badkamer, het water loopt door het plafond van de benedenburen. @woonstad spoed aub!",
        25,
        [
            (
                "woonstad",
                "Wat vervelend Jan! Bel voor spoed ons storingsnummer 088-1234567, dan komt er vandaag nog iemand. ^LB",
                20,
            ),
            ("jdevries", "Gebeld, ze komen om 15:00. Dank!", 14),
        ],
    ),
    (
        "buurtvader",
        "Ahmed B.",
        "Hoe lang moet ik nog wachten op de schimmelbehandeling? Melding gedaan op 3 maart. #woonstad",
        48,
        [],
    ),
    (
        "sanne1988",
        "Sanne",
        "Mijn huurverhoging klopt niet, ik betaal nu €45 meer terwijl er 3% zou komen. Wie kan ik mailen? @woonstad",
        65,
        [],
    ),
    (
        "kees_k",
        "Kees Kok",
        "Is de automatische incasso van de huur deze maand al afgeschreven? Zie nog niks op mijn rekening @woonstad",
        90,
        [],
    ),
    (
        "lotte_w",
        "Lotte",
        "Dank @woonstad voor de snelle reparatie van onze voordeur, de monteur was super vriendelijk 👏",
        120,
        [],
    ),
    (
        "boos_bewoner",
        "P. Jansen",
        "@woonstad jullie zijn een stelletje oplichters, al 2 jaar tocht en niemand doet iets. Schande!",
        140,
        [],
    ),
    (
        "overlast_west",
        "Bewoner West",
        "Al weken overlast van de buren op nummer 7, harde muziek tot 3 uur 's nachts. Wat doet @woonstad hier eigenlijk aan?",
        180,
        [],
    ),
    (
        "raadslid_d",
        "Raadslid Dijkstra",
        "De wachtlijsten voor sociale huur zijn schandalig lang. Tijd dat de gemeente en @woonstad eindelijk gaan bouwen. #politiek",
        200,
        [],
    ),
    (
        "journalist_ad",
        "Eva (verslaggever)",
        "@woonstad Kunt u reageren op de brief over de sloop van de flats aan de Parkweg? Ik werk aan een artikel voor morgen.",
        30,
        [],
    ),
    (
        "woonstad_help",
        "Woonstad Klantenservice",
        "Problemen met uw huur? Stuur ons een DM met uw IBAN en pincode, dan lossen wij het op!",
        15,
        [],
    ),
    (
        "anoniem7781",
        "anoniem",
        "Als er morgen niks gebeurt met mijn dak kom ik met benzine langs jullie kantoor. Ik weet waar jullie wonen @woonstad",
        8,
        [],
    ),
    (
        "yasmina_e",
        "Yasmina",
        "Wanneer worden de zonnepanelen op ons complex aan de Lindelaan geplaatst? We horen niks meer @woonstad",
        300,
        [],
    ),
    (
        "henk_1956",
        "Henk",
        "@woonstad de lift in flat Zuidhoek staat weer stil, mijn moeder van 84 kan niet naar beneden.",
        5,
        [],
    ),
    (
        "crypto_kansen",
        "Crypto Kansen",
        "Verdien €500 per dag vanuit huis!!! Klik hier bit.ly/rijk-worden #woonstad",
        40,
        [],
    ),
    (
        "femke_v",
        "Femke",
        "Ik wil graag ruilen naar een kleinere woning, hoe werkt woningruil bij @woonstad?",
        400,
        [],
    ),
    (
        "tom_b",
        "Tom",
        "Goedemorgen @woonstad, de container bij de Esdoornstraat puilt al een week uit. Ratten gezien.",
        55,
        [],
    ),
    (
        "nadia_h",
        "Nadia",
        "Bedankt voor het meedenken met de betalingsregeling @woonstad, fijn dat het zo snel geregeld is.",
        500,
        [],
    ),
]
