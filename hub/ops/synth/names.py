"""Reference data for the synthetic population: names, name variants, places and providers.

Data only, plus the one pure helper that answers "what else might a council have typed for this
name". Nothing here is real personal data: names are common UK names, weighted so that the synthetic
population has the long tail real registers have (Smith, Jones, Patel and Khan everywhere; Tattersall
and ffrench once in a while), because a linkage method tuned on uniformly drawn names overrates how
much a surname match tells it.

Given names carry a weight per birth cohort (born before 1960, 1960-1989, 1990 on): a 90-year-old
Doris and a 10-year-old Olivia are what record linkage meets, and name frequency depends on age.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AREAS",
    "CARE_HOMES",
    "HOSPITALS",
    "ORIGINS",
    "ORIGIN_WEIGHTS",
    "STREET_PREFIXES",
    "STREET_STEMS",
    "STREET_SUFFIXES",
    "Area",
    "GivenName",
    "Origin",
    "Sex",
    "Surname",
    "Town",
    "given_names",
    "name_variants",
    "surnames",
]

Sex = Literal["F", "M"]
Origin = Literal["british", "south_asian_muslim", "south_asian_hindu_sikh", "east_european", "african_caribbean"]

ORIGINS: tuple[Origin, ...] = (
    "british",
    "south_asian_muslim",
    "south_asian_hindu_sikh",
    "east_european",
    "african_caribbean",
)
# Rough shares of households; weighted towards the cities the synthetic councils stand for.
ORIGIN_WEIGHTS: Mapping[Origin, float] = {
    "british": 0.80,
    "south_asian_muslim": 0.065,
    "south_asian_hindu_sikh": 0.055,
    "east_european": 0.035,
    "african_caribbean": 0.045,
}


@dataclass(frozen=True, slots=True)
class GivenName:
    """A given name, the sex it is given to, and its weight per birth cohort."""

    name: str
    sex: Sex
    #: relative frequency among people born before 1960, 1960-1989 and 1990 on
    weights: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Surname:
    """A family name with its relative frequency within its origin group."""

    name: str
    weight: float
    #: the form a woman carries (Polish Kowalski -> Kowalska, Sikh Singh -> Kaur)
    female_form: str | None = None
    #: set for names only one sex carries as their own (Begum, Bibi, Kaur)
    sex_only: Sex | None = None


def _given(sex: Sex, rows: tuple[tuple[str, float, float, float], ...]) -> tuple[GivenName, ...]:
    return tuple(GivenName(name, sex, (old, mid, new)) for name, old, mid, new in rows)


def _flat(sex: Sex, rows: tuple[tuple[str, float], ...]) -> tuple[GivenName, ...]:
    # For the smaller groups the cohort pattern matters less than getting the names right.
    return tuple(GivenName(name, sex, (w, w, w)) for name, w in rows)


# fmt: off
_BRITISH_MALE = _given("M", (
    ("John", 10, 6, 2), ("David", 8, 9, 2), ("Michael", 6, 8, 2), ("Paul", 3, 8, 0.5),
    ("Andrew", 2, 8, 1), ("Mark", 1, 8, 0.5), ("Peter", 8, 4, 0.3), ("James", 6, 5, 5),
    ("Robert", 7, 5, 1), ("Richard", 4, 5, 0.5), ("Stephen", 3, 6, 0.3), ("Steven", 1, 4, 0.3),
    ("Christopher", 2, 7, 1.5), ("William", 7, 2, 3), ("Thomas", 5, 3, 5), ("Daniel", 0.5, 4, 5),
    ("Matthew", 0.3, 4, 4), ("Anthony", 4, 5, 0.5), ("Kevin", 2, 5, 0.2), ("Gary", 1, 5, 0.1),
    ("Ian", 3, 5, 0.1), ("Alan", 6, 3, 0.1), ("Brian", 7, 1.5, 0), ("Kenneth", 8, 1, 0),
    ("George", 9, 1, 4), ("Ronald", 8, 0.5, 0), ("Raymond", 7, 1, 0), ("Frederick", 5, 0.3, 0.5),
    ("Albert", 6, 0.2, 0.3), ("Arthur", 7, 0.2, 3), ("Harold", 7, 0.1, 0), ("Dennis", 6, 0.3, 0),
    ("Derek", 5, 1, 0), ("Leonard", 5, 0.2, 0), ("Roy", 5, 0.5, 0), ("Edward", 5, 2, 2),
    ("Charles", 5, 1.5, 2), ("Henry", 3, 0.5, 3), ("Joseph", 4, 2, 3), ("Patrick", 3, 2, 0.5),
    ("Philip", 3, 3, 0.3), ("Simon", 0.5, 5, 0.3), ("Jonathan", 0.5, 4, 0.8), ("Nicholas", 0.5, 4, 0.5),
    ("Timothy", 0.5, 3, 0.2), ("Martin", 2, 5, 0.3), ("Colin", 4, 2, 0), ("Graham", 3, 3, 0),
    ("Keith", 5, 2, 0), ("Trevor", 4, 1, 0), ("Barry", 4, 1, 0), ("Terence", 4, 0.5, 0),
    ("Neil", 1, 4, 0.1), ("Darren", 0, 4, 0.1), ("Jason", 0, 4, 0.2), ("Lee", 0.2, 4, 0.2),
    ("Craig", 0, 3, 0.3), ("Stuart", 0.5, 3, 0.2), ("Wayne", 0, 3, 0), ("Dean", 0, 2, 0.2),
    ("Carl", 0.3, 2, 0.1), ("Adam", 0.2, 2, 3), ("Benjamin", 0.3, 1, 4), ("Samuel", 0.5, 0.8, 4),
    ("Alexander", 0.3, 1, 3), ("Luke", 0, 1, 3), ("Ryan", 0, 1.5, 3), ("Liam", 0, 1, 3),
    ("Jack", 0.5, 0.5, 5), ("Harry", 1, 0.3, 4), ("Oliver", 0, 0.3, 5), ("Charlie", 0, 0.1, 3),
    ("Jacob", 0, 0.2, 3), ("Alfie", 0, 0, 2.5), ("Noah", 0, 0, 3), ("Leo", 0, 0, 2.5),
    ("Oscar", 0, 0.1, 2.5), ("Archie", 0.5, 0, 2), ("Freddie", 0, 0, 2), ("Theo", 0, 0, 2),
    ("Gareth", 0.3, 2, 0.2), ("Rhys", 0, 0.8, 1), ("Dylan", 0, 0.2, 1.5), ("Owen", 0.2, 0.5, 1.5),
    ("Callum", 0, 0.5, 2), ("Connor", 0, 0.5, 2), ("Kieran", 0, 0.6, 1.5), ("Jamie", 0, 1.5, 1.5),
    ("Aaron", 0, 0.8, 2), ("Joshua", 0, 0.5, 4), ("Ethan", 0, 0, 2.5), ("Lewis", 0, 0.5, 2),
    ("Nathan", 0, 1, 2), ("Jake", 0, 0.3, 2), ("Frank", 5, 0.2, 0), ("Stanley", 5, 0.1, 0.5),
    ("Walter", 4, 0, 0), ("Ernest", 4, 0, 0), ("Norman", 5, 0.1, 0), ("Sidney", 3, 0, 0),
    ("Leslie", 4, 0.3, 0), ("Malcolm", 3, 1, 0), ("Douglas", 3, 0.5, 0), ("Gordon", 3, 0.5, 0),
    ("Donald", 3, 0.3, 0), ("Gerald", 3, 0.2, 0), ("Lawrence", 1, 0.5, 0.2), ("Bernard", 3, 0.1, 0),
    ("Sean", 0, 2, 1), ("Ewan", 0, 0.3, 0.8), ("Angus", 0.5, 0.2, 0.3), ("Fraser", 0, 0.3, 0.5),
    ("Hugh", 1, 0.3, 0.1),
))

_BRITISH_FEMALE = _given("F", (
    ("Margaret", 10, 2, 0), ("Mary", 9, 2, 0.3), ("Patricia", 7, 2, 0), ("Susan", 3, 7, 0),
    ("Elizabeth", 5, 3, 1), ("Catherine", 2, 3, 1), ("Katherine", 1, 2, 1), ("Kathryn", 0.5, 1.5, 0.3),
    ("Sarah", 1, 7, 3), ("Sara", 0.1, 0.7, 0.5), ("Jennifer", 1, 3, 0.5), ("Karen", 1, 6, 0),
    ("Julie", 1, 6, 0), ("Deborah", 0.5, 4, 0), ("Alison", 0.5, 4, 0.1), ("Helen", 2, 5, 0.5),
    ("Tracey", 0, 4, 0), ("Tracy", 0, 2, 0), ("Lisa", 0, 5, 0.2), ("Michelle", 0, 5, 0.2),
    ("Nicola", 0, 4, 0.3), ("Joanne", 0, 4, 0.1), ("Claire", 0, 4, 0.3), ("Rachel", 0.3, 4, 0.8),
    ("Emma", 0, 4, 3), ("Laura", 0, 3, 2), ("Rebecca", 0, 3, 2), ("Victoria", 0.2, 3, 1),
    ("Samantha", 0, 3, 0.8), ("Gemma", 0, 2.5, 0.5), ("Amy", 0, 2, 3), ("Hannah", 0, 1, 3),
    ("Charlotte", 0, 1, 4), ("Jessica", 0, 1, 4), ("Lauren", 0, 1, 3), ("Sophie", 0, 0.8, 4),
    ("Chloe", 0, 0.3, 4), ("Olivia", 0, 0.2, 5), ("Amelia", 0, 0.1, 5), ("Isla", 0, 0, 3),
    ("Ava", 0, 0, 3), ("Mia", 0, 0, 3), ("Emily", 0.2, 0.8, 5), ("Grace", 0.5, 0.3, 3),
    ("Lily", 0.2, 0, 3.5), ("Freya", 0, 0, 2.5), ("Isabella", 0, 0.1, 2.5), ("Ella", 0, 0.1, 3),
    ("Poppy", 0, 0, 2.5), ("Evie", 0, 0, 2.5), ("Florence", 1, 0, 1.5), ("Ivy", 1, 0, 2),
    ("Rosie", 0, 0.2, 2), ("Willow", 0, 0, 1.5), ("Dorothy", 7, 0.2, 0), ("Joan", 8, 0.2, 0),
    ("Doris", 6, 0, 0), ("Irene", 6, 0.2, 0), ("Jean", 8, 0.3, 0), ("Betty", 6, 0, 0),
    ("Barbara", 7, 0.5, 0), ("Brenda", 6, 0.5, 0), ("Pauline", 4, 1.5, 0), ("Sheila", 6, 0.5, 0),
    ("Shirley", 5, 0.5, 0), ("Sandra", 3, 3, 0), ("Christine", 4, 3, 0), ("Linda", 4, 3, 0),
    ("Carol", 4, 2, 0), ("Valerie", 4, 0.5, 0), ("Maureen", 5, 0.5, 0), ("Janet", 5, 1.5, 0),
    ("Ann", 5, 1, 0), ("Anne", 4, 1.5, 0.2), ("Gillian", 2, 2.5, 0), ("Jacqueline", 2, 3, 0),
    ("Angela", 2, 3, 0), ("Wendy", 2, 2, 0), ("Lorraine", 0.5, 2.5, 0), ("Donna", 0, 2.5, 0),
    ("Dawn", 0.3, 2.5, 0), ("Kelly", 0, 2.5, 0.3), ("Stacey", 0, 2, 0.2), ("Kirsty", 0, 2, 0.3),
    ("Natalie", 0, 2, 0.8), ("Jade", 0, 0.8, 1.5), ("Megan", 0, 0.3, 2.5), ("Bethany", 0, 0.3, 2),
    ("Eleanor", 0.5, 0.3, 2), ("Abigail", 0, 0.3, 2), ("Zoe", 0, 1.5, 1), ("Zoë", 0, 0.3, 0.3),
    ("Siân", 0.2, 0.8, 0.3), ("Niamh", 0, 0.3, 1.2), ("Ellie", 0, 0, 2.5), ("Kate", 0, 1, 0.5),
    ("Ruth", 2, 1.5, 0.3), ("Joyce", 5, 0, 0), ("Edna", 4, 0, 0), ("Gladys", 3, 0, 0),
    ("Hilda", 3, 0, 0), ("Elsie", 3, 0, 1.5), ("Vera", 4, 0, 0), ("Mavis", 3, 0, 0),
    ("Eileen", 4, 0.2, 0), ("Audrey", 3, 0.1, 0.2), ("Iris", 3, 0, 0.3), ("Ethel", 3, 0, 0),
    ("Kathleen", 5, 0.5, 0), ("Josephine", 2, 0.5, 0.2), ("Alice", 2, 0.3, 2.5), ("Rose", 2, 0.3, 1.2),
    ("Evelyn", 3, 0, 1.5), ("Phyllis", 3, 0, 0), ("Marjorie", 3, 0, 0), ("Beryl", 3, 0, 0),
    ("Sylvia", 3, 0.2, 0), ("Lesley", 1, 2, 0), ("Jane", 3, 3, 0.3), ("Judith", 3, 1, 0),
    ("Frances", 2, 1, 0.3), ("Teresa", 2, 2, 0), ("Rita", 3, 0.3, 0),
))

_MUSLIM_MALE = _given("M", (
    ("Mohammed", 10, 10, 8), ("Muhammad", 4, 8, 10), ("Mohammad", 4, 5, 4), ("Mohamed", 3, 3, 2),
    ("Ahmed", 3, 3, 2), ("Ali", 3, 3, 3), ("Imran", 0.5, 4, 1), ("Bilal", 0.2, 2, 3),
    ("Omar", 1, 2, 4), ("Yusuf", 1, 2, 4), ("Ibrahim", 2, 2, 3), ("Hassan", 2, 2, 2),
    ("Hamza", 0, 1, 4), ("Zain", 0, 0.5, 3), ("Tariq", 2, 3, 0.5), ("Asif", 1, 3, 0.5),
    ("Abdul", 5, 3, 1), ("Rizwan", 0.5, 2, 0.5), ("Shahid", 2, 2, 0.3), ("Zubair", 0.5, 1.5, 1),
    ("Ayaan", 0, 0, 3), ("Adam", 0, 0.5, 3),
))
_MUSLIM_FEMALE = _given("F", (
    ("Fatima", 4, 4, 4), ("Ayesha", 2, 3, 3), ("Aisha", 1, 2, 4), ("Zainab", 1, 2, 4),
    ("Maryam", 1, 2, 4), ("Amina", 2, 2, 3), ("Nadia", 1, 3, 1), ("Sadia", 0.5, 3, 1),
    ("Shazia", 1, 3, 0.3), ("Nasreen", 4, 2, 0.2), ("Samina", 2, 2, 0.3), ("Rubina", 2, 2, 0.2),
    ("Hafsa", 0, 1, 3), ("Khadija", 2, 2, 2), ("Safia", 1, 1, 1), ("Yasmin", 1, 3, 1.5),
    ("Noor", 0, 0.5, 3), ("Iqra", 0, 0.5, 3), ("Sumaiya", 0, 0.5, 2), ("Halima", 2, 1.5, 1.5),
))
_HINDU_SIKH_MALE = _given("M", (
    ("Raj", 2, 3, 1), ("Ravi", 2, 3, 1), ("Anil", 3, 2, 0.3), ("Sanjay", 1, 3, 0.3),
    ("Vijay", 2, 2, 0.3), ("Rajesh", 2, 3, 0.3), ("Amit", 0.5, 3, 1), ("Arjun", 0.2, 1, 3),
    ("Rohan", 0, 1, 3), ("Dev", 0.5, 1, 2), ("Nikhil", 0, 1.5, 2), ("Gurpreet", 1, 3, 1),
    ("Jaspal", 3, 2, 0.2), ("Manpreet", 0.5, 2, 1), ("Kuldip", 3, 1, 0), ("Sukhdev", 3, 1, 0),
    ("Jagdeep", 1, 2, 0.5), ("Arun", 2, 2, 0.5), ("Dinesh", 3, 2, 0.2), ("Rakesh", 2, 2, 0.2),
    ("Aarav", 0, 0, 3), ("Vihaan", 0, 0, 2), ("Harjinder", 3, 1.5, 0.2),
))
_HINDU_SIKH_FEMALE = _given("F", (
    ("Priya", 0.5, 3, 2), ("Sunita", 3, 2, 0.2), ("Anjali", 0.5, 2, 2), ("Pooja", 0, 2, 2),
    ("Neha", 0, 2, 1.5), ("Meera", 1, 1, 2), ("Kavita", 1, 2, 0.5), ("Asha", 3, 1, 0.5),
    ("Rekha", 3, 1, 0.2), ("Nisha", 1, 2, 1), ("Harjit", 3, 1, 0.2), ("Parminder", 3, 2, 0.2),
    ("Simran", 0, 1, 3), ("Amrit", 2, 1, 1), ("Sita", 2, 1, 0.5), ("Divya", 0, 1.5, 2),
    ("Anya", 0, 0, 2.5), ("Aanya", 0, 0, 2), ("Diya", 0, 0, 2.5), ("Jasvinder", 2, 2, 0.3),
    ("Manjit", 3, 1.5, 0.2),
))
_EAST_EUROPEAN_MALE = _flat("M", (
    ("Piotr", 4), ("Tomasz", 4), ("Krzysztof", 3), ("Pawel", 3), ("Marcin", 3), ("Michal", 3),
    ("Andrzej", 2), ("Jan", 2), ("Jakub", 3), ("Adrian", 2), ("Ion", 2), ("Andrei", 3),
    ("Mihai", 2), ("Lukas", 2), ("Tomas", 2), ("Bartosz", 2), ("Mateusz", 2), ("Florin", 1),
))
_EAST_EUROPEAN_FEMALE = _flat("F", (
    ("Anna", 4), ("Katarzyna", 4), ("Agnieszka", 3), ("Magdalena", 3), ("Joanna", 3), ("Ewa", 2),
    ("Monika", 2), ("Marta", 2), ("Zuzanna", 2), ("Elena", 2), ("Ioana", 2), ("Maria", 3),
    ("Alina", 2), ("Julia", 2), ("Natalia", 2), ("Aleksandra", 2), ("Oksana", 1),
))
_AFRICAN_CARIBBEAN_MALE = _given("M", (
    ("Oluwaseun", 0.2, 1, 2), ("Chidi", 0.3, 1, 1.5), ("Emeka", 0.5, 1.5, 1), ("Kwame", 1, 1.5, 1),
    ("Kofi", 1, 1.5, 1), ("Tunde", 1, 1.5, 0.5), ("Femi", 0.5, 1.5, 1), ("Adebayo", 0.5, 1, 1),
    ("Samuel", 2, 2, 3), ("Daniel", 1, 2, 3), ("Emmanuel", 2, 2, 2), ("Joshua", 0.2, 1, 3),
    ("David", 3, 2, 1), ("Marcus", 0.5, 2, 1), ("Delroy", 3, 2, 0), ("Winston", 4, 0.5, 0),
    ("Leroy", 2, 2, 0), ("Tyrone", 0, 2, 0.5), ("Jermaine", 0, 2, 0.5), ("Ayodele", 0.5, 1, 1),
))
_AFRICAN_CARIBBEAN_FEMALE = _given("F", (
    ("Blessing", 0.5, 2, 2), ("Grace", 2, 2, 3), ("Chioma", 0.3, 1.5, 1.5), ("Ngozi", 1, 2, 0.5),
    ("Abena", 1, 1.5, 1), ("Ama", 1, 1, 1), ("Funmilayo", 1, 1.5, 0.5), ("Folake", 0.5, 1.5, 0.5),
    ("Adaeze", 0, 1, 2), ("Precious", 0, 1, 2), ("Joy", 1, 1.5, 1), ("Patience", 2, 1, 0.3),
    ("Comfort", 2, 1, 0.2), ("Esther", 2, 1, 1), ("Marcia", 2, 2, 0), ("Beverley", 2, 2, 0),
    ("Sharon", 1, 3, 0), ("Janice", 3, 1, 0), ("Chantelle", 0, 1.5, 1),
))

_BRITISH_SURNAMES = tuple(Surname(n, w) for n, w in (
    ("Smith", 110), ("Jones", 85), ("Williams", 65), ("Taylor", 50), ("Brown", 48), ("Davies", 45),
    ("Evans", 35), ("Wilson", 33), ("Thomas", 33), ("Johnson", 32), ("Roberts", 32), ("Robinson", 27),
    ("Thompson", 27), ("Wright", 26), ("Walker", 25), ("White", 24), ("Edwards", 24), ("Hughes", 23),
    ("Green", 22), ("Hall", 22), ("Lewis", 21), ("Harris", 21), ("Clarke", 20), ("Jackson", 19),
    ("Wood", 19), ("Turner", 18), ("Martin", 18), ("Cooper", 18), ("Hill", 17), ("Ward", 17),
    ("Morris", 16), ("Moore", 16), ("Clark", 16), ("Lee", 16), ("King", 15), ("Baker", 15),
    ("Harrison", 15), ("Morgan", 15), ("Allen", 14), ("James", 14), ("Scott", 14), ("Phillips", 13),
    ("Watson", 13), ("Davis", 13), ("Parker", 12), ("Price", 12), ("Bennett", 12), ("Young", 12),
    ("Griffiths", 12), ("Mitchell", 12), ("Kelly", 12), ("Cook", 11), ("Carter", 11),
    ("Richardson", 11), ("Bailey", 11), ("Collins", 11), ("Bell", 11), ("Shaw", 10), ("Murphy", 10),
    ("Miller", 10), ("Cox", 10), ("Richards", 10), ("Marshall", 9), ("Simpson", 9), ("Ellis", 9),
    ("Adams", 9), ("Wilkinson", 9), ("Foster", 9), ("Chapman", 8), ("Powell", 8), ("Webb", 8),
    ("Rogers", 8), ("Gray", 8), ("Mason", 8), ("Hunt", 8), ("Graham", 8), ("Holmes", 8), ("Mills", 8),
    ("Owen", 8), ("Palmer", 8), ("Lloyd", 8), ("Barnes", 7), ("Knight", 7), ("Butler", 7),
    ("Russell", 7), ("Barker", 7), ("Fisher", 7), ("Stevens", 7), ("Jenkins", 7), ("Dixon", 7),
    ("Fletcher", 7), ("Harvey", 7), ("Pearson", 7), ("Howard", 7), ("Elliott", 7), ("Andrews", 6),
    ("Reid", 6), ("Fox", 6), ("Ford", 6), ("Stewart", 6), ("Hudson", 6), ("Gibson", 6),
    ("Lawrence", 6), ("Kennedy", 6), ("Matthews", 6), ("Armstrong", 6), ("Spencer", 6),
    ("Hamilton", 6), ("Ross", 6), ("Campbell", 6), ("Berry", 5), ("Grant", 5), ("Murray", 5),
    ("Burton", 5), ("Wells", 5), ("Hart", 5), ("Dawson", 5), ("Gardner", 5), ("Pearce", 5),
    ("Holland", 5), ("Newman", 5), ("Carr", 5), ("Webster", 5), ("Rose", 5), ("Payne", 5),
    ("Walsh", 5), ("Morrison", 5), ("Lane", 5), ("Hunter", 5), ("Rees", 5), ("Parry", 4),
    ("Francis", 4), ("Warren", 4), ("Riley", 4), ("Harper", 4), ("Black", 4), ("Sutton", 4),
    ("Hayes", 4), ("Lambert", 4), ("Holt", 4), ("Slater", 4), ("Hodgson", 4), ("Hawkins", 4),
    ("Baldwin", 4), ("Cole", 4), ("Chambers", 4), ("Atkinson", 4), ("Lowe", 4), ("McDonald", 4),
    ("Robertson", 4), ("Thomson", 4), ("Anderson", 4), ("Byrne", 4), ("Ryan", 4), ("Doyle", 3),
    ("Barrett", 3), ("Fraser", 3), ("O'Brien", 3), ("O'Connor", 3), ("O'Neill", 3), ("Bowen", 3),
    ("Pugh", 3), ("Howells", 2), ("McCarthy", 3), ("Gallagher", 3), ("Doherty", 3), ("Quinn", 3),
    ("Brennan", 2), ("Flanagan", 2), ("Kavanagh", 2), ("O'Sullivan", 2), ("MacDonald", 2),
    ("McKenzie", 2), ("Mackenzie", 2), ("McLean", 2), ("MacLeod", 2), ("Cameron", 2),
    ("Ferguson", 2), ("Sinclair", 2), ("Buchanan", 2), ("Fitzgerald", 2), ("Llewellyn", 2),
    ("Vaughan", 2), ("Rhys", 1), ("Pritchard", 2), ("Prosser", 1), ("D'Souza", 1), ("Whitworth", 1),
    ("Ackroyd", 1), ("Sowerby", 1), ("Tattersall", 1), ("Greenhalgh", 1), ("Haworth", 1),
    ("Entwistle", 1), ("Ramsbottom", 1), ("Oldroyd", 1), ("Sugden", 1), ("Crabtree", 1),
    ("Butterworth", 1), ("Pickles", 1), ("Heseltine", 1), ("Postlethwaite", 1), ("Blenkinsop", 1),
    ("Trelawny", 0.5), ("Penhaligon", 0.5), ("Nancarrow", 0.5), ("Polglase", 0.5), ("Urquhart", 1),
    ("Farquharson", 0.5), ("Menzies", 1), ("Cadwaladr", 0.3), ("Featherstonehaugh", 0.2),
    ("ffrench", 0.2), ("St John", 0.3), ("Smith-Jones", 0.3), ("Forbes-Hamilton", 0.3),
    ("Le Mesurier", 0.2), ("Van der Berg", 0.3), ("de Souza", 0.5), ("Abbott", 2), ("Atherton", 1),
    ("Birch", 2), ("Booth", 3), ("Bradley", 3), ("Brooks", 3), ("Bryant", 2), ("Cartwright", 2),
    ("Dean", 2), ("Dunn", 2), ("Fowler", 2), ("Gill", 2), ("Goodwin", 2), ("Hale", 1), ("Heath", 2),
    ("Hobbs", 1), ("Ingram", 1), ("Jarvis", 2), ("Kemp", 2), ("Lucas", 2), ("Moss", 2), ("Nash", 1),
    ("Nicholson", 2), ("Norris", 2), ("Osborne", 2), ("Parsons", 2), ("Potter", 2), ("Quigley", 0.5),
    ("Randall", 1), ("Sharp", 2), ("Stone", 2), ("Summers", 1), ("Tucker", 2), ("Vickers", 1),
    ("Wallis", 1), ("Whitehead", 2), ("Yates", 2), ("Yeomans", 0.5),
))
_MUSLIM_SURNAMES = (
    Surname("Khan", 30), Surname("Ali", 25), Surname("Hussain", 22), Surname("Ahmed", 22),
    Surname("Begum", 15, sex_only="F"), Surname("Akhtar", 10), Surname("Rahman", 10),
    Surname("Mahmood", 8), Surname("Iqbal", 8), Surname("Malik", 7), Surname("Miah", 8),
    Surname("Uddin", 6), Surname("Islam", 6), Surname("Rashid", 4), Surname("Butt", 5),
    Surname("Aziz", 3), Surname("Bibi", 4, sex_only="F"), Surname("Chaudhry", 4), Surname("Hassan", 3),
    Surname("Qureshi", 3), Surname("Siddiqui", 2), Surname("Anwar", 3), Surname("Akram", 3),
    Surname("Saleem", 3), Surname("Bashir", 3), Surname("Nawaz", 3), Surname("Raza", 2),
    Surname("Haq", 2), Surname("Karim", 2), Surname("Mirza", 2), Surname("Sheikh", 2),
)
_HINDU_SIKH_SURNAMES = (
    Surname("Patel", 40), Surname("Singh", 25, female_form="Kaur"), Surname("Kaur", 8, sex_only="F"),
    Surname("Shah", 10), Surname("Sharma", 10), Surname("Kumar", 8), Surname("Gill", 8),
    Surname("Sandhu", 5), Surname("Sidhu", 5), Surname("Dhillon", 4), Surname("Mistry", 5),
    Surname("Parmar", 5), Surname("Chauhan", 4), Surname("Joshi", 4), Surname("Mehta", 4),
    Surname("Gupta", 4), Surname("Desai", 3), Surname("Rana", 3), Surname("Bhatt", 3),
    Surname("Grewal", 3), Surname("Bains", 3), Surname("Johal", 2), Surname("Thakkar", 2),
    Surname("Lad", 2), Surname("Solanki", 3), Surname("Chopra", 2), Surname("Kapoor", 2),
    Surname("Malhotra", 2), Surname("Verma", 2), Surname("Rao", 2), Surname("Nair", 3),
    Surname("Pillai", 2), Surname("Iyer", 2),
)
_EAST_EUROPEAN_SURNAMES = (
    Surname("Nowak", 10), Surname("Kowalski", 8, female_form="Kowalska"),
    Surname("Wisniewski", 6, female_form="Wisniewska"), Surname("Wojcik", 6), Surname("Kowalczyk", 5),
    Surname("Kaminski", 5, female_form="Kaminska"), Surname("Lewandowski", 5, female_form="Lewandowska"),
    Surname("Zielinski", 4, female_form="Zielinska"), Surname("Szymanski", 4, female_form="Szymanska"),
    Surname("Wozniak", 4), Surname("Dabrowski", 3, female_form="Dabrowska"),
    Surname("Kozlowski", 3, female_form="Kozlowska"), Surname("Jankowski", 3, female_form="Jankowska"),
    Surname("Mazur", 3), Surname("Krawczyk", 3), Surname("Popescu", 5), Surname("Ionescu", 3),
    Surname("Popa", 4), Surname("Stan", 2), Surname("Dumitru", 3),
    Surname("Kazlauskas", 2, female_form="Kazlauskiene"), Surname("Petrov", 2, female_form="Petrova"),
    Surname("Horvath", 2), Surname("Novak", 2), Surname("Shevchenko", 2),
)
_AFRICAN_CARIBBEAN_SURNAMES = tuple(Surname(n, w) for n, w in (
    ("Okafor", 5), ("Adeyemi", 5), ("Mensah", 5), ("Boateng", 4), ("Okoro", 3), ("Owusu", 4),
    ("Asante", 3), ("Adebayo", 3), ("Okonkwo", 3), ("Osei", 4), ("Agyeman", 2), ("Ogunleye", 2),
    ("Eze", 3), ("Nwosu", 2), ("Oyelaran", 1), ("Campbell", 6), ("Brown", 6), ("Williams", 6),
    ("Francis", 3), ("Grant", 3), ("Clarke", 3), ("Thomas", 3), ("Johnson", 3), ("Henry", 3),
    ("Bailey", 2), ("Reid", 2), ("Samuels", 2), ("McKenzie", 2), ("Forbes", 2),
))
# fmt: on

_GIVEN: Mapping[Origin, tuple[GivenName, ...]] = {
    "british": _BRITISH_MALE + _BRITISH_FEMALE,
    "south_asian_muslim": _MUSLIM_MALE + _MUSLIM_FEMALE,
    "south_asian_hindu_sikh": _HINDU_SIKH_MALE + _HINDU_SIKH_FEMALE,
    "east_european": _EAST_EUROPEAN_MALE + _EAST_EUROPEAN_FEMALE,
    "african_caribbean": _AFRICAN_CARIBBEAN_MALE + _AFRICAN_CARIBBEAN_FEMALE,
}
_SURNAMES: Mapping[Origin, tuple[Surname, ...]] = {
    "british": _BRITISH_SURNAMES,
    "south_asian_muslim": _MUSLIM_SURNAMES,
    "south_asian_hindu_sikh": _HINDU_SIKH_SURNAMES,
    "east_european": _EAST_EUROPEAN_SURNAMES,
    "african_caribbean": _AFRICAN_CARIBBEAN_SURNAMES,
}


def given_names(origin: Origin) -> tuple[GivenName, ...]:
    """Given names of one origin group, both sexes."""
    return _GIVEN[origin]


def surnames(origin: Origin) -> tuple[Surname, ...]:
    """Family names of one origin group with their weights."""
    return _SURNAMES[origin]


# Interchangeable forms: a council clerk may write any member of a group for any other. Kept per sex
# because "Alex", "Sam", "Chris" and "Jo" belong to one group for men and another for women.
# fmt: off
_VARIANT_GROUPS: tuple[tuple[Sex, tuple[str, ...]], ...] = (
    ("M", ("William", "Bill", "Will", "Billy", "Willie")),
    ("M", ("Robert", "Bob", "Rob", "Bobby", "Robbie")),
    ("M", ("Richard", "Rick", "Dick", "Richie", "Rich")),
    ("M", ("James", "Jim", "Jimmy", "Jamie")),
    ("M", ("John", "Jack", "Johnny", "Jon")),
    ("M", ("Jonathan", "Jon", "Jonny")),
    ("M", ("Michael", "Mike", "Mick", "Mickey")),
    ("M", ("Thomas", "Tom", "Tommy")),
    ("M", ("Edward", "Ed", "Eddie", "Ted", "Ned")),
    ("M", ("Anthony", "Tony", "Antony")),
    ("M", ("Christopher", "Chris", "Kit")),
    ("M", ("Daniel", "Dan", "Danny")),
    ("M", ("David", "Dave", "Davy", "Dai")),
    ("M", ("Stephen", "Steven", "Steve", "Stevie")),
    ("M", ("Matthew", "Matt")),
    ("M", ("Andrew", "Andy", "Drew")),
    ("M", ("Joseph", "Joe", "Joey")),
    ("M", ("Peter", "Pete")),
    ("M", ("Nicholas", "Nick", "Nicky")),
    ("M", ("Alexander", "Alex", "Alec", "Sandy")),
    ("M", ("Benjamin", "Ben", "Benny")),
    ("M", ("Samuel", "Sam", "Sammy")),
    ("M", ("Charles", "Charlie", "Chas")),
    ("M", ("Henry", "Harry", "Hal")),
    ("M", ("Harold", "Harry", "Hal")),
    ("M", ("Frederick", "Fred", "Freddie", "Freddy")),
    ("M", ("Patrick", "Pat", "Paddy")),
    ("M", ("Kenneth", "Ken", "Kenny")),
    ("M", ("Ronald", "Ron", "Ronnie")),
    ("M", ("Donald", "Don", "Donny")),
    ("M", ("Gerald", "Gerry", "Jerry")),
    ("M", ("Lawrence", "Laurence", "Larry", "Laurie")),
    ("M", ("Timothy", "Tim", "Timmy")),
    ("M", ("Philip", "Phillip", "Phil")),
    ("M", ("Raymond", "Ray")),
    ("M", ("Terence", "Terry", "Terrence")),
    ("M", ("Leonard", "Len", "Lenny")),
    ("M", ("Albert", "Bert", "Bertie", "Albie")),
    ("M", ("Arthur", "Art", "Artie")),
    ("M", ("Stanley", "Stan")),
    ("M", ("Douglas", "Doug", "Dougie")),
    ("M", ("Bernard", "Bernie")),
    ("M", ("Walter", "Wally", "Walt")),
    ("M", ("Sidney", "Sid", "Sydney")),
    ("M", ("Norman", "Norm")),
    ("M", ("Oliver", "Ollie", "Olly")),
    ("M", ("Joshua", "Josh")),
    ("M", ("Nathan", "Nate")),
    ("M", ("Jacob", "Jake")),
    ("M", ("Frank", "Francis", "Frankie")),
    ("M", ("Mohammed", "Muhammad", "Mohammad", "Mohamed", "Mohamad")),
    ("F", ("Catherine", "Katherine", "Kathryn", "Kate", "Cathy", "Kathy", "Katie")),
    ("F", ("Elizabeth", "Liz", "Beth", "Lizzie", "Betty", "Eliza", "Libby")),
    ("F", ("Margaret", "Maggie", "Peggy", "Meg", "Madge")),
    ("F", ("Patricia", "Pat", "Trish", "Tricia", "Patsy")),
    ("F", ("Susan", "Sue", "Susie")),
    ("F", ("Deborah", "Debbie", "Debra", "Deb")),
    ("F", ("Jennifer", "Jenny", "Jen")),
    ("F", ("Rebecca", "Becky", "Becca", "Rebekah")),
    ("F", ("Victoria", "Vicky", "Vicki", "Tori")),
    ("F", ("Samantha", "Sam", "Sammy")),
    ("F", ("Christine", "Chris", "Chrissie", "Christina")),
    ("F", ("Jacqueline", "Jackie", "Jacqui")),
    ("F", ("Barbara", "Babs")),
    ("F", ("Dorothy", "Dot", "Dottie", "Dolly")),
    ("F", ("Josephine", "Jo", "Josie")),
    ("F", ("Joanne", "Jo", "Joanna")),
    ("F", ("Abigail", "Abbie", "Abby", "Gail")),
    ("F", ("Amelia", "Millie")),
    ("F", ("Eleanor", "Ellie", "Nell", "Elinor")),
    ("F", ("Sarah", "Sara", "Sally")),
    ("F", ("Ann", "Anne", "Annie")),
    ("F", ("Zoe", "Zoë", "Zoey")),
    ("F", ("Tracey", "Tracy")),
    ("F", ("Siân", "Sian")),
    ("F", ("Kathleen", "Kath", "Kathy", "Kay")),
    ("F", ("Jessica", "Jess", "Jessie")),
    ("F", ("Charlotte", "Lottie", "Charlie")),
    ("F", ("Nicola", "Nicky", "Nikki")),
    ("F", ("Gillian", "Gill", "Jill")),
    ("F", ("Frances", "Fran", "Frankie")),
    ("F", ("Judith", "Judy")),
    ("F", ("Valerie", "Val")),
    ("F", ("Teresa", "Theresa", "Tess", "Terri")),
    ("F", ("Natalie", "Nat", "Nathalie")),
    ("F", ("Fatima", "Fatimah", "Fatma")),
    ("F", ("Ayesha", "Aisha", "Aysha")),
)
# One way only: the council anglicises or shortens, but nobody registered as Peter is written Piotr.
_ONE_WAY: tuple[tuple[Sex, str, tuple[str, ...]], ...] = (
    ("M", "Piotr", ("Peter",)), ("M", "Krzysztof", ("Chris", "Christopher")), ("M", "Pawel", ("Paul", "Paweł")),
    ("M", "Michal", ("Michael", "Michał")), ("M", "Tomasz", ("Tom", "Thomas")), ("M", "Andrzej", ("Andrew",)),
    ("M", "Jakub", ("Jacob", "Kuba")), ("M", "Mateusz", ("Matthew", "Matt")), ("M", "Lukas", ("Luke",)),
    ("M", "Oluwaseun", ("Seun",)), ("M", "Adebayo", ("Bayo",)), ("M", "Ayodele", ("Ayo",)),
    ("M", "Rajesh", ("Raj",)), ("M", "Jaspal", ("Jas",)), ("M", "Harjinder", ("Harry", "Jinder")),
    ("F", "Katarzyna", ("Kasia", "Kate")), ("F", "Agnieszka", ("Aga", "Agnes")), ("F", "Magdalena", ("Magda",)),
    ("F", "Aleksandra", ("Ola", "Alexandra")), ("F", "Funmilayo", ("Funmi",)), ("F", "Jasvinder", ("Jas",)),
)
# fmt: on


def _build_variants() -> dict[tuple[Sex, str], tuple[str, ...]]:
    merged: dict[tuple[Sex, str], list[str]] = {}
    for sex, group in _VARIANT_GROUPS:
        for name in group:
            bucket = merged.setdefault((sex, name), [])
            bucket.extend(other for other in group if other != name and other not in bucket)
    for sex, name, alternatives in _ONE_WAY:
        bucket = merged.setdefault((sex, name), [])
        bucket.extend(other for other in alternatives if other not in bucket)
    return {key: tuple(value) for key, value in merged.items()}


_VARIANTS = _build_variants()


def name_variants(name: str, sex: Sex) -> tuple[str, ...]:
    """Other forms of ``name`` a record might carry for the same person: nicknames and spellings."""
    return _VARIANTS.get((sex, name), ())


# ---------------------------------------------------------------------------------------------------
# Places. Postcode districts are real outward codes for the towns; the inward parts are random, so a
# full synthetic postcode may or may not exist.


@dataclass(frozen=True, slots=True)
class Town:
    """A post town with the outward codes (postcode districts) that serve it."""

    name: str
    districts: tuple[str, ...]
    localities: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class Area:
    """The towns one synthetic council covers, and how dear renting is there (1.0 = England median)."""

    name: str
    towns: tuple[Town, ...]
    rent_index: float


def _districts(area: str, first: int, last: int, *extra: str) -> tuple[str, ...]:
    return tuple(f"{area}{n}" for n in range(first, last + 1)) + extra


# fmt: off
AREAS: tuple[Area, ...] = (
    Area("West Yorkshire", (
        Town("Leeds", _districts("LS", 1, 29), ("Headingley", "Armley", "Chapeltown", "Seacroft"), 5),
        Town("Bradford", _districts("BD", 1, 24), ("Manningham", "Shipley", "Eccleshill"), 3),
        Town("Wakefield", _districts("WF", 1, 17), ("Horbury", "Ossett"), 2),
    ), 1.0),
    Area("Greater Manchester", (
        Town("Manchester", _districts("M", 1, 50), ("Moss Side", "Levenshulme", "Didsbury", "Ancoats"), 5),
        Town("Oldham", _districts("OL", 1, 16), ("Chadderton", "Royton"), 2),
        Town("Bolton", _districts("BL", 1, 9), ("Farnworth", "Horwich"), 2),
    ), 1.1),
    Area("London East and Central", (
        Town("London", (*_districts("E", 1, 18, "E1W", "E20"),
                        "EC1A", "EC1M", "EC1N", "EC1R", "EC1V", "EC1Y", "EC2A", "EC2M", "EC2N", "EC2R", "EC2V",
                        "EC2Y", "EC3A", "EC3M", "EC3N", "EC3R", "EC3V", "EC4A", "EC4M", "EC4N", "EC4R", "EC4V", "EC4Y"),
             ("Bow", "Stepney", "Hackney Wick", "Shoreditch"), 6),
        Town("London", (*_districts("W", 2, 14, "W1A", "W1D", "W1F", "W1G", "W1H", "W1K", "W1T", "W1U"),
                        "WC1A", "WC1B", "WC1E", "WC1H", "WC1N", "WC1R", "WC1X", "WC2A", "WC2B", "WC2E", "WC2H"),
             ("Marylebone", "Bloomsbury", "Shepherd's Bush"), 3),
        Town("Ilford", _districts("IG", 1, 11), ("Seven Kings", "Goodmayes"), 2),
        Town("Romford", _districts("RM", 1, 20), ("Harold Hill", "Collier Row"), 2),
    ), 1.9),
    Area("West Midlands", (
        Town("Birmingham", _districts("B", 1, 99), ("Sparkbrook", "Handsworth", "Erdington", "Selly Oak"), 6),
        Town("Wolverhampton", _districts("WV", 1, 16), ("Whitmore Reans", "Bilston"), 2),
        Town("Coventry", _districts("CV", 1, 12), ("Foleshill", "Tile Hill"), 2),
    ), 1.0),
    Area("London South", (
        Town("London", (*_districts("SE", 1, 28), *_districts("SW", 2, 20),
                        "SW1A", "SW1E", "SW1H", "SW1P", "SW1V", "SW1W", "SW1X", "SW1Y"),
             ("Peckham", "Brixton", "Lewisham", "Battersea"), 6),
        Town("Croydon", _districts("CR", 0, 9), ("Thornton Heath", "Norbury"), 2),
    ), 1.8),
    Area("South Wales", (
        Town("Cardiff", _districts("CF", 3, 24), ("Splott", "Grangetown", "Ely", "Llanishen"), 4),
        Town("Swansea", _districts("SA", 1, 18), ("Townhill", "Morriston"), 2),
        Town("Newport", _districts("NP", 10, 20), ("Pillgwenlly", "Bettws"), 2),
    ), 0.9),
    Area("Tyne and Wear", (
        Town("Newcastle upon Tyne", _districts("NE", 1, 15), ("Byker", "Benwell", "Jesmond"), 4),
        Town("Sunderland", _districts("SR", 1, 6), ("Hendon", "Pennywell"), 2),
        Town("Durham", _districts("DH", 1, 7), ("Framwellgate Moor",), 1),
    ), 0.85),
    Area("Glasgow", (
        Town("Glasgow", _districts("G", 1, 84), ("Govan", "Easterhouse", "Partick", "Springburn"), 5),
        Town("Paisley", _districts("PA", 1, 3), ("Ferguslie Park",), 1),
    ), 0.9),
    Area("East Midlands", (
        Town("Leicester", _districts("LE", 1, 19), ("Belgrave", "Highfields", "Braunstone"), 3),
        Town("Nottingham", _districts("NG", 1, 17), ("Sneinton", "Bulwell", "Radford"), 3),
        Town("Derby", _districts("DE", 1, 24), ("Normanton", "Allenton"), 2),
    ), 0.95),
    Area("Bristol and Bath", (
        Town("Bristol", _districts("BS", 1, 16), ("Easton", "Knowle West", "Bedminster"), 4),
        Town("Bath", _districts("BA", 1, 2), ("Twerton",), 1),
    ), 1.2),
)

STREET_STEMS: tuple[str, ...] = (
    "Victoria", "Station", "Church", "Park", "Manor", "Queens", "Kings", "Grange", "Mill", "School",
    "Albert", "York", "Springfield", "Highfield", "Alexandra", "Stanley", "George", "Chapel", "Windsor",
    "Richmond", "Clarence", "Beech", "Oak", "Elm", "Willow", "Meadow", "Orchard", "Cedar", "Ash", "Holly",
    "Rose", "Laburnum", "Hawthorn", "Sycamore", "Chestnut", "Poplar", "Birch", "Maple", "Rowan", "Heather",
    "Nelson", "Wellington", "Cromwell", "Gladstone", "Jubilee", "Coronation", "Mandela", "Brunel",
    "Telford", "Darwin", "Newton", "Shakespeare", "Milton", "Byron", "Tennyson", "Wordsworth", "Kestrel",
    "Falcon", "Heron", "Kingfisher", "Lark", "Swallow", "Abbey", "Priory", "Castle", "Bridge", "Market",
    "Mount", "Hill", "Valley", "Green", "Brook", "Riverside", "Canal", "Forge", "Foundry", "Railway",
)
STREET_SUFFIXES: tuple[str, ...] = (
    "Road", "Street", "Avenue", "Close", "Lane", "Drive", "Crescent", "Way", "Gardens", "Grove",
    "Terrace", "Place", "Court", "View",
)
STREET_PREFIXES: tuple[str, ...] = (
    "North", "South", "East", "West", "Upper", "Lower", "Old", "New", "Little", "Great",
)

HOSPITALS: tuple[str, ...] = (
    "Royal Infirmary", "General Hospital", "St James's University Hospital", "Queen Elizabeth Hospital",
    "Royal London Hospital", "St Thomas' Hospital", "University Hospital of Wales", "Freeman Hospital",
    "Queen's Medical Centre", "Southmead Hospital", "Wythenshawe Hospital", "Royal Victoria Infirmary",
    "City Hospital", "Community Hospital", "Mental Health Unit, Park House",
)
CARE_HOMES: tuple[str, ...] = (
    "Oakwood Care Home", "Willow Lodge", "The Beeches Nursing Home", "Rosemount House",
    "St Anne's Residential Home", "Meadowview Care Centre", "Hollybank Nursing Home", "Ashgrove Lodge",
    "Cedar Court Care Home", "Brookside House", "Elmhurst Residential Care", "The Laurels",
    "Sunnyside Care Home", "Primrose Court", "Heathfield Nursing Home", "Abbeyfield House",
)
# fmt: on
