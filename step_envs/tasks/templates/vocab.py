"""Word lists the templates draw parameters from (plain ASCII, no shell or regex specials)."""

WORDS = ("apple", "river", "stone", "cloud", "maple", "orbit", "pixel", "tiger", "lemon", "harbor", "candle",
         "forest", "garden", "silver", "rocket", "window", "yellow", "planet", "bridge", "castle", "meadow",
         "pepper", "violet", "winter", "summer", "copper", "falcon", "island", "marble", "saddle")
NAMES = ("Ada", "Linus", "Grace", "Alan", "Barbara", "Dennis", "Edsger", "Frances", "Guido", "Hedy", "Ivan",
         "Joan", "Ken", "Margaret", "Niklaus", "Radia", "Shafi", "Tim", "Whitfield", "Yukihiro")
CITIES = ("Paris", "Berlin", "Rome", "Madrid", "Lisbon", "Vienna", "Prague", "Oslo", "Dublin", "Athens",
          "Warsaw", "Zurich", "Helsinki", "Budapest", "Brussels", "Amsterdam")
ITEMS = ("Pen", "Book", "Lamp", "Chair", "Desk", "Mug", "Clock", "Plant", "Bottle", "Bag", "Cable", "Mouse",
         "Phone", "Stool", "Towel", "Kettle")
FOLDERS = ("Reports", "Invoices", "Archive", "Projects", "Music", "Recipes", "Travel", "Photos2024", "Drafts",
           "Letters", "Receipts", "Scans")
COLORS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 80, 220), "yellow": (240, 210, 20),
          "purple": (140, 50, 180), "orange": (245, 140, 20), "black": (15, 15, 15), "gray": (128, 128, 128)}

